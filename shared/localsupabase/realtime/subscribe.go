package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const publication = "supabase_realtime"

// binding is one parsed postgres_changes entry of a join.
type binding struct {
	id     int64
	action string // "*", "INSERT", "UPDATE" or "DELETE"
	schema string // "*" matches every schema in the publication
	table  string // "*" matches every table of schema
	filter *filter
}

// filter is a single `column=op.value` condition. For "in", value is the
// PostgreSQL array literal the real server builds from "(a,b)".
type filter struct {
	column, op, value string
}

var filterOps = map[string]string{
	"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "= any",
}

var inValue = regexp.MustCompile(`^\((.*)\)$`)

// parseFilter parses a filter string the way the real server does; a
// non-nil error string is the system message's text.
func parseFilter(s string) (*filter, string) {
	if strings.TrimSpace(s) == "" {
		return nil, ""
	}
	parts := strings.SplitN(s, "=", 2)
	if len(parts) != 2 {
		return nil, "Error parsing `filter` params: " + elixirList(parts)
	}
	rest := strings.SplitN(parts[1], ".", 2)
	if len(rest) != 2 || filterOps[rest[0]] == "" {
		return nil, "Error parsing `filter` params: " + elixirList(rest)
	}
	f := &filter{column: parts[0], op: rest[0], value: rest[1]}
	if f.op == "in" {
		m := inValue.FindStringSubmatch(f.value)
		if m == nil {
			return nil, "Error parsing `filter` params: `in` filter value must be wrapped by parentheses"
		}
		f.value = "{" + m[1] + "}"
	}
	return f, ""
}

// entryID is the stable integer id of an entry: a hash of its canonical
// JSON in the range of erlang:phash2/1, so a rejoin gets the same id.
func entryID(entry map[string]json.RawMessage) int64 {
	canon := make(map[string]any, len(entry))
	for k, v := range entry {
		if k == "id" {
			continue
		}
		canon[k] = canonical(v)
	}
	b, _ := json.Marshal(canon)
	h := fnv.New64a()
	h.Write(b)
	return int64(h.Sum64() % (1 << 27))
}

func canonical(raw json.RawMessage) any {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return string(raw)
	}
	return v
}

// parseBinding applies the real server's rules for event and the
// schema/table shorthands. A non-empty string is the system error message.
func parseBinding(entry map[string]json.RawMessage) (*binding, string) {
	b := &binding{id: entryID(entry), action: "*"}
	if ev, ok := jsonString(entry["event"]); ok {
		switch up := strings.ToUpper(ev); up {
		case "INSERT", "UPDATE", "DELETE":
			b.action = up
		}
	}
	schema, hasSchema := jsonString(entry["schema"])
	table, hasTable := jsonString(entry["table"])
	switch {
	case hasSchema && hasTable:
		b.schema, b.table = schema, table
	case hasSchema:
		b.schema, b.table = schema, "*"
	case hasTable:
		b.schema, b.table = "public", table
	default:
		return nil, "No subscription params provided. Please provide at least a `schema` or `table` to subscribe to: " + elixirMap(entry)
	}
	if fs, ok := jsonString(entry["filter"]); ok {
		f, msg := parseFilter(fs)
		if msg != "" {
			return nil, msg
		}
		b.filter = f
	}
	return b, ""
}

func jsonString(raw json.RawMessage) (string, bool) {
	if raw == nil {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// paramsText renders a binding the way the real server's error messages do.
func (b *binding) paramsText() string {
	filters := "[]"
	if b.filter != nil {
		filters = fmt.Sprintf("[{%q, %q, %q, false}]", b.filter.column, b.filter.op, b.filter.value)
	}
	return fmt.Sprintf("[event: %s, schema: %s, table: %s, filters: %s, select: nil]", b.action, b.schema, b.table, filters)
}

// validate checks b against the database as the real server's subscription
// insert does: the table must be published, the role must exist, and the
// filter column must be readable by the role and its value castable.
func (s *Server) validate(ctx context.Context, b *binding, role string) string {
	rows, err := s.pool.Query(ctx, `select c.oid from pg_publication_tables p
		join pg_namespace n on n.nspname = p.schemaname
		join pg_class c on c.relnamespace = n.oid and c.relname = p.tablename
		where p.pubname = $1 and ($2 = '*' or p.schemaname = $2) and ($3 = '*' or p.tablename = $3)`,
		publication, b.schema, b.table)
	if err != nil {
		return b.exception(err)
	}
	oids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return b.exception(err)
	}
	if len(oids) == 0 {
		return "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: " + b.paramsText()
	}
	if _, err := s.pool.Exec(ctx, `select $1::text::regrole`, role); err != nil {
		return b.exception(err)
	}
	if b.filter == nil {
		return ""
	}
	for _, oid := range oids {
		var typ string
		var ok bool
		err := s.pool.QueryRow(ctx, `select format_type(a.atttypid, null), has_column_privilege($1::text, a.attrelid, a.attname, 'SELECT')
			from pg_attribute a where a.attrelid = $2 and a.attname = $3 and a.attnum > 0 and not a.attisdropped`,
			role, oid, b.filter.column).Scan(&typ, &ok)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !ok) {
			return b.exception(&pgconn.PgError{Code: "P0001", Message: "invalid column for filter " + b.filter.column})
		}
		if err != nil {
			return b.exception(err)
		}
		if b.filter.op == "in" {
			var n *int
			if err := s.pool.QueryRow(ctx, `select array_length($1::text::text[], 1)`, b.filter.value).Scan(&n); err != nil {
				return b.exception(err)
			}
			if n != nil && *n > 100 {
				return b.exception(&pgconn.PgError{Code: "P0001", Message: "too many values for `in` filter. Maximum 100"})
			}
			typ += "[]"
		}
		if _, err := s.pool.Exec(ctx, `select $1::text::`+typ, b.filter.value); err != nil {
			return b.exception(err)
		}
	}
	return ""
}

func (b *binding) exception(err error) string {
	return "Unable to subscribe to changes with given parameters. An exception happened so please check your connect parameters: " +
		b.paramsText() + ". Exception: " + postgrexError(err)
}

// postgrexError formats a database error as the Elixir driver prints it.
func postgrexError(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return "unexpected database error"
	}
	name := conditionNames[pe.Code]
	if name == "" {
		return fmt.Sprintf("ERROR %s %s", pe.Code, pe.Message)
	}
	return fmt.Sprintf("ERROR %s (%s) %s", pe.Code, name, pe.Message)
}

var conditionNames = map[string]string{
	"P0001": "raise_exception",
	"22P02": "invalid_text_representation",
	"22003": "numeric_value_out_of_range",
	"22007": "invalid_datetime_format",
	"22008": "datetime_field_overflow",
	"22023": "invalid_parameter_value",
	"42703": "undefined_column",
	"42704": "undefined_object",
	"42601": "syntax_error",
	"42P01": "undefined_table",
	"22001": "string_data_right_truncation",
	"22021": "character_not_in_repertoire",
}

// elixirList renders strings as Elixir's inspect does: ["a", "b"].
func elixirList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// elixirMap renders a JSON object as Elixir's inspect renders the decoded
// map: %{"event" => "*"}, keys sorted.
func elixirMap(entry map[string]json.RawMessage) string {
	keys := make([]string, 0, len(entry))
	for k := range entry {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q => %s", k, elixirValue(canonical(entry[k])))
	}
	return "%{" + strings.Join(parts, ", ") + "}"
}

func elixirValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("%q", x)
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = elixirValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		raw := make(map[string]json.RawMessage, len(x))
		for k, e := range x {
			raw[k], _ = json.Marshal(e)
		}
		return elixirMap(raw)
	}
	return fmt.Sprint(v)
}
