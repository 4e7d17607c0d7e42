package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/store/storetest"
)

// childEnv makes the test binary act as one of several processes sharing
// a file (see TestCrossProcess) instead of running tests.
const childEnv = "SUPABRIDGE_SQLITE_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

func open(t testing.TB, path string, opts ...sqlite.Option) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// sqlOpen opens the file directly, bypassing the package.
func sqlOpen(path string) (*sql.DB, error) { return sql.Open("sqlite", path) }

func tempPath(t testing.TB) string { return filepath.Join(t.TempDir(), "state", "supabridge.db") }

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return store.New(open(t, tempPath(t))) })
}

func TestBackend(t *testing.T) {
	storetest.RunBackend(t, func(t *testing.T) store.Backend { return open(t, tempPath(t)) })
}

// split spreads calls over two handles on one file, as two processes
// would: a write through one must be seen, and conditioned on, by the other.
type split struct {
	dbs [2]*sqlite.DB
	n   atomic.Uint64
}

func newSplit(t testing.TB) *split {
	path := tempPath(t)
	return &split{dbs: [2]*sqlite.DB{open(t, path), open(t, path)}}
}

func (s *split) pick() *sqlite.DB { return s.dbs[s.n.Add(1)%2] }

func (s *split) Get(ctx context.Context, pk, sk string) (*store.Item, error) {
	return s.pick().Get(ctx, pk, sk)
}

func (s *split) Put(ctx context.Context, it *store.Item, c store.Condition) error {
	return s.pick().Put(ctx, it, c)
}

func (s *split) Delete(ctx context.Context, pk, sk string, c store.Condition) error {
	return s.pick().Delete(ctx, pk, sk, c)
}

func (s *split) Query(ctx context.Context, q store.Query) ([]*store.Item, error) {
	return s.pick().Query(ctx, q)
}

func (s *split) Close() error { return errors.Join(s.dbs[0].Close(), s.dbs[1].Close()) }

func TestStoreTwoHandles(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return store.New(newSplit(t)) })
}

func TestBackendTwoHandles(t *testing.T) {
	storetest.RunBackend(t, func(t *testing.T) store.Backend { return newSplit(t) })
}

// TestCrossProcess runs several processes on one file at once: each
// increments a shared counter through optimistic writes and races for a
// set of claims. No increment may be lost and every claim has one winner.
func TestCrossProcess(t *testing.T) {
	const procs, increments, claims = 3, 30, 40
	path := tempPath(t)
	db := open(t, path)
	defer db.Close()
	ctx := t.Context()
	if err := db.Put(ctx, &store.Item{PK: "counter", SK: "s", Version: 1, Data: []byte("0")}, store.Condition{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(500 * time.Millisecond) // all children begin together
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*strings.Builder, procs)
	for i := range cmds {
		spec, _ := json.Marshal(childSpec{Path: path, Increments: increments, Claims: claims, Start: start, Name: "p" + strconv.Itoa(i)})
		cmds[i] = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), childEnv+"="+string(spec))
		outs[i] = new(strings.Builder)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child %d: %v: %s", i, err, outs[i])
		}
	}
	it, err := db.Get(ctx, "counter", "s")
	if err != nil {
		t.Fatal(err)
	}
	if string(it.Data) != strconv.Itoa(procs*increments) || it.Version != 1+procs*increments {
		t.Fatalf("counter after %d increments from %d processes: %s (version %d)", procs*increments, procs, it.Data, it.Version)
	}
	won := map[string]int{}
	for i := range claims {
		it, err := db.Get(ctx, "claim", strconv.Itoa(i))
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		won[string(it.Data)]++
	}
	total := 0
	for i, out := range outs {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "won %d", &n); err != nil {
			t.Fatalf("child %d printed %q", i, out)
		}
		if n != won["p"+strconv.Itoa(i)] {
			t.Fatalf("child %d says it won %d claims; the file says %d", i, n, won["p"+strconv.Itoa(i)])
		}
		total += n
	}
	if total != claims {
		t.Fatalf("children won %d claims in all, want exactly %d", total, claims)
	}
}

type childSpec struct {
	Path       string
	Increments int
	Claims     int
	Start      time.Time
	Name       string
}

func runChild(raw string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Println(err)
		return 2
	}
	db, err := sqlite.Open(spec.Path)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	defer db.Close()
	time.Sleep(time.Until(spec.Start))
	ctx := context.Background()
	won := 0
	for i := range spec.Claims {
		err := db.Put(ctx, &store.Item{PK: "claim", SK: strconv.Itoa(i), Version: 1, Data: []byte(spec.Name)}, store.Condition{IfAbsent: true})
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConditionFailed):
			fmt.Println(err)
			return 2
		}
		if i < spec.Increments {
			if err := storetest.Increment(ctx, db, "counter", 1); err != nil {
				fmt.Println(err)
				return 2
			}
		}
	}
	if err := storetest.Increment(ctx, db, "counter", spec.Increments-min(spec.Increments, spec.Claims)); err != nil {
		fmt.Println(err)
		return 2
	}
	fmt.Printf("won %d\n", won)
	return 0
}

func TestFileIsPrivate(t *testing.T) {
	path := tempPath(t)
	db := open(t, path)
	defer db.Close()
	if err := db.Put(t.Context(), &store.Item{PK: "p", SK: "s", Version: 1, Data: []byte("x")}, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm", filepath.Dir(path)} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o; group and others must have no access", filepath.Base(f), fi.Mode().Perm())
		}
	}
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := tempPath(t)
	ctx := t.Context()
	db := open(t, path)
	it := &store.Item{PK: "p", SK: "s", GSI1PK: "g", GSI1SK: "1", Version: 4, Data: []byte("kept")}
	if err := db.Put(ctx, it, store.Condition{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	db = open(t, path)
	defer db.Close()
	got, err := db.Query(ctx, store.Query{Index: store.IndexGSI1, PK: "g", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Data) != "kept" || got[0].Version != 4 {
		t.Fatalf("after reopening: %d items", len(got))
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := tempPath(t)
	db := open(t, path)
	db.Close()
	// Stand in for a newer program having written the file.
	raw, err := sqlOpen(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = sqlite.Open(path)
	if err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("open a newer file: %v", err)
	}
}

func TestSweep(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	db := open(t, tempPath(t), sqlite.WithClock(clock), sqlite.WithSweepInterval(time.Hour))
	defer db.Close()
	ctx := t.Context()
	put := func(sk string, exp time.Time) {
		t.Helper()
		if err := db.Put(ctx, &store.Item{PK: "p", SK: sk, Version: 1, ExpiresAt: exp, Data: []byte(sk)}, store.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(sk string) bool {
		t.Helper()
		_, err := db.Get(ctx, "p", sk)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	put("expired", now.Add(-2*time.Second))
	put("later", now.Add(time.Minute))
	put("never", time.Time{})
	if !exists("expired") {
		t.Fatal("an expired item vanished before any sweep: readers must see it and check expiry themselves")
	}
	n, err := db.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1", n, err)
	}
	if exists("expired") || !exists("later") || !exists("never") {
		t.Fatal("sweep removed the wrong items")
	}

	// A write after the sweep interval sweeps on its own.
	now = now.Add(2 * time.Minute)
	put("trigger-early", time.Time{})
	if !exists("later") {
		t.Fatal("a write swept before the interval")
	}
	now = now.Add(time.Hour)
	put("trigger", time.Time{})
	if exists("later") {
		t.Fatal("a write after the interval did not sweep")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join(blocker, "db"), // a parent that is a file
		dir,                          // a directory
	} {
		if db, err := sqlite.Open(path); err == nil {
			db.Close()
			t.Errorf("Open(%s) succeeded", path)
		}
	}
	odd := filepath.Join(dir, "we?ird #name%.db")
	db, err := sqlite.Open(odd)
	if err != nil {
		t.Fatalf("a path with URI characters: %v", err)
	}
	defer db.Close()
	if _, err := os.Stat(odd); err != nil {
		t.Fatalf("the file is not where it was asked for: %v", err)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) *store.Store { return store.New(open(b, tempPath(b))) })
}

// TestConcurrentOpen: processes starting together on a new file all get
// the schema, none fails on the other's lock.
func TestConcurrentOpen(t *testing.T) {
	path := tempPath(t)
	const n = 6
	dbs := make([]*sqlite.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = sqlite.Open(path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	for i, db := range dbs {
		it := &store.Item{PK: "p", SK: strconv.Itoa(i), Version: 1, Data: []byte("x")}
		if err := db.Put(t.Context(), it, store.Condition{IfAbsent: true}); err != nil {
			t.Fatalf("handle %d: %v", i, err)
		}
	}
	got, err := dbs[0].Query(t.Context(), store.Query{PK: "p", Limit: 10})
	if err != nil || len(got) != n {
		t.Fatalf("%d items through one handle, %v; want %d", len(got), err, n)
	}
}
