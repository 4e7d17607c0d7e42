package postgrest

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaCache is what the handler knows about the database: the relations
// and functions of the exposed schemas, their foreign keys, and the roles a
// request may switch to. It is immutable once built; reloads swap it whole.
type schemaCache struct {
	tables map[string]*table // by qualified key
	funcs  map[string][]*function
	fks    []*foreignKey
	roles  map[string]*roleInfo
	names  map[string][]string // schema → relation names, for hints
	fnames map[string][]string // schema → function names, for hints
}

func qkey(schema, name string) string { return schema + "\x00" + name }

type table struct {
	schema, name string
	kind         byte // r, v, m, f, p
	cols         []*column
	colByName    map[string]*column
	pk           []string
}

type column struct {
	name      string
	typ       string
	def       string // SQL default expression; empty when none
	generated bool
}

type foreignKey struct {
	name     string
	from     string // qualified key of the referencing table
	fromCols []string
	to       string
	toCols   []string
}

type funcArg struct {
	name     string
	typ      string
	required bool
}

type function struct {
	schema, name string
	args         []funcArg // input arguments, in order
	setof        bool
	composite    bool // returns a row type (table, composite, OUT/TABLE columns)
	void         bool
	volatile     bool
	retTable     string // qualified key of the table whose row type it returns, if any
}

type roleInfo struct {
	allowed  bool     // the API may switch to it (a member of authenticator)
	settings []string // "name=value", applied per request as PostgREST does
}

const tablesSQL = `
SELECT n.nspname, c.relname, c.relkind::text,
  coalesce((SELECT array_agg(a.attname::text ORDER BY array_position(con.conkey, a.attnum))
    FROM pg_constraint con JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
    WHERE con.conrelid = c.oid AND con.contype = 'p'), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND n.nspname = ANY ($1)`

const columnsSQL = `
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
  CASE WHEN a.attidentity <> '' THEN
         format('nextval(%L::regclass)', pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname))
       WHEN a.attgenerated = '' THEN coalesce(pg_get_expr(d.adbin, d.adrelid), '') ELSE '' END,
  a.attgenerated <> ''
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND n.nspname = ANY ($1)
ORDER BY c.oid, a.attnum`

const fksSQL = `
SELECT con.conname, n1.nspname, c1.relname,
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
  n2.nspname, c2.relname,
  ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint con
JOIN pg_class c1 ON c1.oid = con.conrelid JOIN pg_namespace n1 ON n1.oid = c1.relnamespace
JOIN pg_class c2 ON c2.oid = con.confrelid JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
WHERE con.contype = 'f' AND (n1.nspname = ANY ($1) OR n2.nspname = ANY ($1))`

const funcsSQL = `
SELECT n.nspname, p.proname,
  coalesce(p.proargnames, '{}'),
  coalesce(p.proargmodes::text[], '{}'),
  ARRAY(SELECT format_type(t, NULL) FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY u(t, i) ORDER BY i),
  p.pronargs, p.pronargdefaults, p.proretset,
  t.typtype::text, p.prorettype = 'void'::regtype, p.prorettype = 'record'::regtype, p.provolatile = 'v',
  coalesce((SELECT rn.nspname::text FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace
            WHERE rc.oid = t.typrelid AND rc.relkind IN ('r', 'v', 'm', 'f', 'p')), ''),
  coalesce((SELECT rc.relname::text FROM pg_class rc
            WHERE rc.oid = t.typrelid AND rc.relkind IN ('r', 'v', 'm', 'f', 'p')), '')
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type t ON t.oid = p.prorettype
WHERE n.nspname = ANY ($1) AND p.prokind = 'f'`

// Roles: the API may act as members of authenticator (as the real
// authenticator connection may); without one, as any non-superuser.
// Settings are the role's own, after authenticator's session defaults.
const rolesSQL = `
WITH auth AS (SELECT oid FROM pg_roles WHERE rolname = 'authenticator')
SELECT r.rolname,
  CASE WHEN EXISTS (SELECT 1 FROM auth) THEN pg_has_role((SELECT oid FROM auth), r.oid, 'MEMBER') ELSE NOT r.rolsuper END,
  coalesce((SELECT array_agg(s ORDER BY ord, rs.setdatabase)
    FROM pg_db_role_setting rs,
         LATERAL unnest(rs.setconfig) s,
         LATERAL (SELECT CASE WHEN rs.setrole = r.oid THEN 1 ELSE 0 END) o(ord)
    WHERE (rs.setrole = r.oid OR rs.setrole = (SELECT oid FROM auth))
      AND rs.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND (split_part(s, '=', 1) LIKE '%.%'
           OR split_part(s, '=', 1) IN (SELECT name FROM pg_settings WHERE context IN ('user', 'superuser')))), '{}')
FROM pg_roles r`

func loadSchema(ctx context.Context, pool *pgxpool.Pool, schemas []string) (*schemaCache, error) {
	sc := &schemaCache{
		tables: map[string]*table{}, funcs: map[string][]*function{}, roles: map[string]*roleInfo{},
		names: map[string][]string{}, fnames: map[string][]string{},
	}
	rows, err := pool.Query(ctx, tablesSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("postgrest: load tables: %w", err)
	}
	for rows.Next() {
		t := &table{colByName: map[string]*column{}}
		var kind string
		if err := rows.Scan(&t.schema, &t.name, &kind, &t.pk); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgrest: load tables: %w", err)
		}
		t.kind = kind[0]
		sc.tables[qkey(t.schema, t.name)] = t
		sc.names[t.schema] = append(sc.names[t.schema], t.name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgrest: load tables: %w", err)
	}

	rows, err = pool.Query(ctx, columnsSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("postgrest: load columns: %w", err)
	}
	for rows.Next() {
		var s, tn string
		c := &column{}
		if err := rows.Scan(&s, &tn, &c.name, &c.typ, &c.def, &c.generated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgrest: load columns: %w", err)
		}
		if t := sc.tables[qkey(s, tn)]; t != nil {
			t.cols = append(t.cols, c)
			t.colByName[c.name] = c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgrest: load columns: %w", err)
	}

	rows, err = pool.Query(ctx, fksSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("postgrest: load foreign keys: %w", err)
	}
	for rows.Next() {
		fk := &foreignKey{}
		var s1, t1, s2, t2 string
		if err := rows.Scan(&fk.name, &s1, &t1, &fk.fromCols, &s2, &t2, &fk.toCols); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgrest: load foreign keys: %w", err)
		}
		fk.from, fk.to = qkey(s1, t1), qkey(s2, t2)
		sc.fks = append(sc.fks, fk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgrest: load foreign keys: %w", err)
	}

	rows, err = pool.Query(ctx, funcsSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("postgrest: load functions: %w", err)
	}
	for rows.Next() {
		f := &function{}
		var names, modes, types []string
		var nargs, ndefaults int16
		var typtype, retSchema, retName string
		var isRecord bool
		if err := rows.Scan(&f.schema, &f.name, &names, &modes, &types, &nargs, &ndefaults, &f.setof,
			&typtype, &f.void, &isRecord, &f.volatile, &retSchema, &retName); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgrest: load functions: %w", err)
		}
		hasOut := false
		for i, typ := range types {
			mode := "i"
			if i < len(modes) {
				mode = modes[i]
			}
			if mode == "o" || mode == "t" {
				hasOut = true
				continue
			}
			name := ""
			if i < len(names) {
				name = names[i]
			}
			f.args = append(f.args, funcArg{name: name, typ: typ})
		}
		for i := range f.args {
			f.args[i].required = i < int(nargs)-int(ndefaults)
		}
		f.composite = typtype == "c" || (isRecord && hasOut)
		if retName != "" {
			f.retTable = qkey(retSchema, retName)
		}
		k := qkey(f.schema, f.name)
		if len(sc.funcs[k]) == 0 {
			sc.fnames[f.schema] = append(sc.fnames[f.schema], f.name)
		}
		sc.funcs[k] = append(sc.funcs[k], f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgrest: load functions: %w", err)
	}

	rows, err = pool.Query(ctx, rolesSQL)
	if err != nil {
		return nil, fmt.Errorf("postgrest: load roles: %w", err)
	}
	for rows.Next() {
		var name string
		ri := &roleInfo{}
		if err := rows.Scan(&name, &ri.allowed, &ri.settings); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgrest: load roles: %w", err)
		}
		sc.roles[name] = ri
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgrest: load roles: %w", err)
	}
	return sc, nil
}

// similarity is 1 - Levenshtein distance / longer length, the score the
// server's fuzzy hints use.
func similarity(a, b string) float64 {
	ra, rb := []rune(strings.ToLower(a)), []rune(strings.ToLower(b))
	if len(ra) == 0 && len(rb) == 0 {
		return 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return 1 - float64(prev[len(rb)])/float64(max(len(ra), len(rb)))
}

// closest returns the candidate most similar to s, if it scores at least minScore.
func closest(s string, candidates []string, minScore float64) (string, bool) {
	best, bestScore := "", -1.0
	for _, c := range candidates {
		if sc := similarity(s, c); sc > bestScore {
			best, bestScore = c, sc
		}
	}
	return best, bestScore >= minScore && best != ""
}
