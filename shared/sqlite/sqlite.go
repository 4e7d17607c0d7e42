// Package sqlite is Supabridge's embedded storage: one local SQLite file,
// through the pure-Go driver modernc.org/sqlite, holding both the state store
// (DB implements store.Backend) and the credential vault (DB.Vault).
//
// Several processes may share the file. It runs in WAL mode with a busy
// timeout; every conditional write is a single statement, which SQLite runs
// as its own write transaction, so the condition and the write are atomic
// across goroutines and processes alike. Within one DB, writes go through
// one connection, so goroutines queue in Go instead of spinning on SQLite's
// busy handler.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/supabridge/supabridge/shared/store"
	sqlitedrv "modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// schemaVersion is stored in PRAGMA user_version. A file written by a newer
// schema is refused rather than misread.
const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS items (
	pk         TEXT NOT NULL,
	sk         TEXT NOT NULL,
	gsi1pk     TEXT,
	gsi1sk     TEXT,
	gsi2pk     TEXT,
	gsi2sk     TEXT,
	gsi3pk     TEXT,
	gsi3sk     TEXT,
	version    INTEGER NOT NULL,
	expires_at INTEGER,
	data       BLOB NOT NULL,
	PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi3 ON items (gsi3pk, gsi3sk) WHERE gsi3pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_expires ON items (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS secrets (
	name   TEXT NOT NULL PRIMARY KEY,
	sealed BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
`

// Limits mirrored from DynamoDB, so that what works on one machine also
// works on AWS.
const (
	maxPartitionKey = 2048
	maxSortKey      = 1024
	maxItemBytes    = 400 * 1024
)

// Option configures Open.
type Option func(*options)

type options struct {
	busyTimeout   time.Duration
	sweepInterval time.Duration
	now           func() time.Time
	readConns     int
}

// WithBusyTimeout sets how long a write waits for another process's write
// lock before failing (default 10s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithSweepInterval sets how often, at most, a write also deletes items
// whose ExpiresAt has passed (default 10 minutes; negative disables).
func WithSweepInterval(d time.Duration) Option { return func(o *options) { o.sweepInterval = d } }

// WithClock sets the clock that decides when an item's ExpiresAt has passed
// for clean-up (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// DB is an open SQLite file. It implements store.Backend and hosts the
// embedded vault (see Vault). Its methods are safe for concurrent use, and
// any number of DBs, in any number of processes, may share one file. The
// zero value is not usable; call Open.
//
// Errors wrap store.ErrNotFound and store.ErrConditionFailed as the
// store.Backend contract says. Put also refuses what DynamoDB would (keys
// over 2048/1024 bytes, items over 400 KB), so that what works on one
// machine works on AWS. Reads see every write committed before they began,
// indexes included.
type DB struct {
	path string
	w    *sql.DB // one connection: this process's writes queue in Go
	r    *sql.DB // readers; WAL lets them run beside the writer
	opts options

	lastSweep atomic.Int64 // unix nanoseconds of the last sweep
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	queries map[queryShape]*sql.Stmt
	stmts   stmts
}

type stmts struct {
	get, putAny, putAbsent, putVersion *sql.Stmt
	delAny, delVersion, exists         *sql.Stmt
	sweep                              *sql.Stmt
}

var _ store.Backend = (*DB)(nil)

// Open opens the SQLite file at path, creating it (mode 0600, and its
// directory, mode 0700) and its schema when missing.
func Open(path string, opts ...Option) (*DB, error) {
	o := options{busyTimeout: 10 * time.Second, sweepInterval: 10 * time.Minute, now: time.Now, readConns: 4}
	for _, f := range opts {
		f(&o)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Create the file ourselves: SQLite would create it with the umask's
	// permissions, and it holds the vault. The WAL and shared-memory files
	// SQLite creates later copy this mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	f.Close()

	u := url.URL{Scheme: "file", Path: abs}
	busy := strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)
	// synchronous(FULL): the file holds rotated refresh tokens, and a
	// rotation lost to a power cut means asking the customer to re-link.
	w, err := sql.Open("sqlite", u.String()+"?_pragma=busy_timeout("+busy+")&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{path: abs, w: w, opts: o, queries: make(map[queryShape]*sql.Stmt)}
	if err := db.migrateRetrying(); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", u.String()+"?_pragma=busy_timeout("+busy+")&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	r.SetConnMaxIdleTime(0)
	db.r = r
	if err := db.prepare(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.lastSweep.Store(o.now().UnixNano())
	return db, nil
}

// migrateRetrying runs migrate until it stops meeting SQLITE_BUSY or the
// busy timeout has passed. Switching a new file to WAL can fail with BUSY
// at once, without the busy handler, while another process switches it.
func (db *DB) migrateRetrying() error {
	deadline := time.Now().Add(db.opts.busyTimeout)
	delay := time.Millisecond
	for {
		err := db.migrate()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// isBusy reports SQLITE_BUSY and SQLITE_LOCKED, with any extended code.
func isBusy(err error) bool {
	var se *sqlitedrv.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// migrate creates the schema, or checks the file's, inside one immediate
// transaction so that processes opening a new file together agree.
func (db *DB) migrate() error {
	ctx := context.Background()
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal", mode)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("the file has schema version %d; this program knows up to %d", v, schemaVersion)
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

const itemColumns = `pk, sk, ifnull(gsi1pk, ''), ifnull(gsi1sk, ''), ifnull(gsi2pk, ''), ifnull(gsi2sk, ''),
	ifnull(gsi3pk, ''), ifnull(gsi3sk, ''), version, ifnull(expires_at, 0), data`

const insertItem = `INSERT INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, version, expires_at, data)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (db *DB) prepare() error {
	var err error
	prep := func(d *sql.DB, q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = d.Prepare(q)
		return s
	}
	db.stmts = stmts{
		get: prep(db.r, `SELECT `+itemColumns+` FROM items WHERE pk = ? AND sk = ?`),
		putAny: prep(db.w, insertItem+` ON CONFLICT (pk, sk) DO UPDATE SET
			gsi1pk = excluded.gsi1pk, gsi1sk = excluded.gsi1sk, gsi2pk = excluded.gsi2pk, gsi2sk = excluded.gsi2sk,
			gsi3pk = excluded.gsi3pk, gsi3sk = excluded.gsi3sk, version = excluded.version,
			expires_at = excluded.expires_at, data = excluded.data`),
		putAbsent: prep(db.w, insertItem+` ON CONFLICT (pk, sk) DO NOTHING`),
		putVersion: prep(db.w, `UPDATE items SET gsi1pk = ?3, gsi1sk = ?4, gsi2pk = ?5, gsi2sk = ?6,
			gsi3pk = ?7, gsi3sk = ?8, version = ?9, expires_at = ?10, data = ?11
			WHERE pk = ?1 AND sk = ?2 AND version = ?12`),
		delAny:     prep(db.w, `DELETE FROM items WHERE pk = ? AND sk = ?`),
		delVersion: prep(db.w, `DELETE FROM items WHERE pk = ? AND sk = ? AND version = ?`),
		exists:     prep(db.r, `SELECT 1 FROM items WHERE pk = ? AND sk = ?`),
		sweep: prep(db.w, `DELETE FROM items WHERE (pk, sk) IN
			(SELECT pk, sk FROM items WHERE expires_at IS NOT NULL AND expires_at < ? LIMIT 1000)`),
	}
	return err
}

// Path returns the file's absolute path.
func (db *DB) Path() string { return db.path }

// Close closes the file. Later calls return the first call's result; the
// vault obtained from db stops working too.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.r != nil {
			errs = append(errs, db.r.Close())
		}
		errs = append(errs, db.w.Close())
		db.closeErr = errors.Join(errs...)
	})
	return db.closeErr
}

// Get implements store.Backend.
func (db *DB) Get(ctx context.Context, pk, sk string) (*store.Item, error) {
	it, err := scanItem(db.stmts.get.QueryRowContext(ctx, pk, sk))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get %s/%s: %w", pk, sk, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s/%s: %w", pk, sk, err)
	}
	return it, nil
}

type scanner interface{ Scan(...any) error }

func scanItem(row scanner) (*store.Item, error) {
	it := new(store.Item)
	var exp int64
	err := row.Scan(&it.PK, &it.SK, &it.GSI1PK, &it.GSI1SK, &it.GSI2PK, &it.GSI2SK,
		&it.GSI3PK, &it.GSI3SK, &it.Version, &exp, &it.Data)
	if err != nil {
		return nil, err
	}
	if exp != 0 {
		it.ExpiresAt = time.Unix(exp, 0).UTC()
	}
	if it.Data == nil {
		it.Data = []byte{}
	}
	return it, nil
}

// indexKey returns an index's key pair for storage: NULL (out of the index)
// unless both halves are set, as DynamoDB indexes only items carrying both.
func indexKey(pk, sk string) (any, any) {
	if pk == "" || sk == "" {
		return nil, nil
	}
	return pk, sk
}

// expiresSeconds renders t as the epoch seconds both backends store,
// rounded up so that clean-up never comes early; zero for the zero time.
func expiresSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func checkItem(it *store.Item) error {
	switch {
	case it == nil:
		return errors.New("nil item")
	case it.PK == "" || it.SK == "":
		return errors.New("item has an empty key")
	case len(it.PK) > maxPartitionKey || len(it.GSI1PK) > maxPartitionKey ||
		len(it.GSI2PK) > maxPartitionKey || len(it.GSI3PK) > maxPartitionKey:
		return fmt.Errorf("a partition key is over %d bytes", maxPartitionKey)
	case len(it.SK) > maxSortKey || len(it.GSI1SK) > maxSortKey ||
		len(it.GSI2SK) > maxSortKey || len(it.GSI3SK) > maxSortKey:
		return fmt.Errorf("a sort key is over %d bytes", maxSortKey)
	}
	size := len(it.PK) + len(it.SK) + len(it.GSI1PK) + len(it.GSI1SK) + len(it.GSI2PK) +
		len(it.GSI2SK) + len(it.GSI3PK) + len(it.GSI3SK) + len(it.Data) + 64
	if size > maxItemBytes {
		return fmt.Errorf("item is %d bytes, over the %d-byte limit", size, maxItemBytes)
	}
	return nil
}

func checkCondition(c store.Condition) error {
	if c.IfAbsent && c.IfVersion != 0 {
		return errors.New("condition sets both IfAbsent and IfVersion")
	}
	return nil
}

// Put implements store.Backend.
func (db *DB) Put(ctx context.Context, it *store.Item, cond store.Condition) error {
	if err := checkItem(it); err != nil {
		return fmt.Errorf("sqlite: put: %w", err)
	}
	if err := checkCondition(cond); err != nil {
		return fmt.Errorf("sqlite: put %s/%s: %w", it.PK, it.SK, err)
	}
	g1p, g1s := indexKey(it.GSI1PK, it.GSI1SK)
	g2p, g2s := indexKey(it.GSI2PK, it.GSI2SK)
	g3p, g3s := indexKey(it.GSI3PK, it.GSI3SK)
	var exp any
	if s := expiresSeconds(it.ExpiresAt); s != 0 {
		exp = s
	}
	data := it.Data
	if data == nil {
		data = []byte{}
	}
	args := []any{it.PK, it.SK, g1p, g1s, g2p, g2s, g3p, g3s, it.Version, exp, data}
	var stmt *sql.Stmt
	switch {
	case cond.IfAbsent:
		stmt = db.stmts.putAbsent
	case cond.IfVersion != 0:
		stmt, args = db.stmts.putVersion, append(args, cond.IfVersion)
	default:
		stmt = db.stmts.putAny
	}
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("sqlite: put %s/%s: %w", it.PK, it.SK, err)
	}
	if cond.IfAbsent || cond.IfVersion != 0 {
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: put %s/%s: %w", it.PK, it.SK, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: put %s/%s: %w", it.PK, it.SK, store.ErrConditionFailed)
		}
	}
	db.maybeSweep(ctx)
	return nil
}

// Delete implements store.Backend.
func (db *DB) Delete(ctx context.Context, pk, sk string, cond store.Condition) error {
	if err := checkCondition(cond); err != nil {
		return fmt.Errorf("sqlite: delete %s/%s: %w", pk, sk, err)
	}
	switch {
	case cond.IfAbsent:
		// Nothing to delete when the condition holds; only report whether it does.
		var one int
		err := db.stmts.exists.QueryRowContext(ctx, pk, sk).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlite: delete %s/%s: %w", pk, sk, err)
		}
		return fmt.Errorf("sqlite: delete %s/%s: %w", pk, sk, store.ErrConditionFailed)
	case cond.IfVersion != 0:
		res, err := db.stmts.delVersion.ExecContext(ctx, pk, sk, cond.IfVersion)
		if err != nil {
			return fmt.Errorf("sqlite: delete %s/%s: %w", pk, sk, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: delete %s/%s: %w", pk, sk, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: delete %s/%s: %w", pk, sk, store.ErrConditionFailed)
		}
		return nil
	}
	if _, err := db.stmts.delAny.ExecContext(ctx, pk, sk); err != nil {
		return fmt.Errorf("sqlite: delete %s/%s: %w", pk, sk, err)
	}
	return nil
}

// queryShape identifies one of the few query texts; each is prepared once.
type queryShape struct {
	index         store.Index
	after, before bool
	desc          bool
}

var indexColumns = map[store.Index][2]string{
	store.IndexPrimary: {"pk", "sk"},
	store.IndexGSI1:    {"gsi1pk", "gsi1sk"},
	store.IndexGSI2:    {"gsi2pk", "gsi2sk"},
	store.IndexGSI3:    {"gsi3pk", "gsi3sk"},
}

func (db *DB) queryStmt(s queryShape) (*sql.Stmt, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if st, ok := db.queries[s]; ok {
		return st, nil
	}
	cols := indexColumns[s.index]
	q := `SELECT ` + itemColumns + ` FROM items WHERE ` + cols[0] + ` = ?`
	if s.after {
		q += ` AND ` + cols[1] + ` > ?`
	}
	if s.before {
		q += ` AND ` + cols[1] + ` < ?`
	}
	dir := ""
	if s.desc {
		dir = " DESC"
	}
	q += ` ORDER BY ` + cols[1] + dir
	if s.index != store.IndexPrimary {
		// Index sort keys should be unique; if not, order ties stably.
		q += `, pk` + dir + `, sk` + dir
	}
	q += ` LIMIT ?`
	st, err := db.r.Prepare(q)
	if err != nil {
		return nil, err
	}
	db.queries[s] = st
	return st, nil
}

// Query implements store.Backend.
func (db *DB) Query(ctx context.Context, q store.Query) ([]*store.Item, error) {
	if _, ok := indexColumns[q.Index]; !ok {
		return nil, fmt.Errorf("sqlite: query: unknown index %q", q.Index)
	}
	if q.PK == "" || q.Limit <= 0 {
		return nil, fmt.Errorf("sqlite: query %s: needs a partition key and a positive limit", q.Index)
	}
	if q.After != "" && q.Before != "" && q.After >= q.Before {
		return []*store.Item{}, nil
	}
	shape := queryShape{index: q.Index, after: q.After != "", before: q.Before != "", desc: q.Descending}
	st, err := db.queryStmt(shape)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query %s %s: %w", q.Index, q.PK, err)
	}
	args := make([]any, 0, 4)
	args = append(args, q.PK)
	if shape.after {
		args = append(args, q.After)
	}
	if shape.before {
		args = append(args, q.Before)
	}
	args = append(args, min(q.Limit, math.MaxInt32))
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query %s %s: %w", q.Index, q.PK, err)
	}
	defer rows.Close()
	out := make([]*store.Item, 0, min(q.Limit, 64))
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: query %s %s: %w", q.Index, q.PK, err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query %s %s: %w", q.Index, q.PK, err)
	}
	return out, nil
}

// maybeSweep runs Sweep when the sweep interval has passed; one goroutine
// wins the turn. Its failure does not fail the write that triggered it.
func (db *DB) maybeSweep(ctx context.Context) {
	if db.opts.sweepInterval < 0 {
		return
	}
	now := db.opts.now().UnixNano()
	last := db.lastSweep.Load()
	if now-last < int64(db.opts.sweepInterval) || !db.lastSweep.CompareAndSwap(last, now) {
		return
	}
	_, _ = db.Sweep(ctx)
}

// Sweep deletes up to 1000 items whose ExpiresAt has passed and reports how
// many it deleted. Writes call it on their own now and then; nothing
// depends on it having run.
func (db *DB) Sweep(ctx context.Context) (int, error) {
	res, err := db.stmts.sweep.ExecContext(ctx, db.opts.now().Unix())
	if err != nil {
		return 0, fmt.Errorf("sqlite: sweep: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: sweep: %w", err)
	}
	return int(n), nil
}
