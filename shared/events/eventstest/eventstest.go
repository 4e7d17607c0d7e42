// Package eventstest runs tests of the credentials and events packages on
// both store backends with several processes' worth of clients: each
// Process has its own store client and its own vault cache over shared
// storage (one SQLite file, or one DynamoDB table on dynalite with one
// Secrets Manager fake), exactly what two Lambda instances share. It also
// gives tests a webhook receiver that records what it was sent.
//
// Start the DynamoDB endpoint once per test package:
//
//	var env *eventstest.Env
//	func TestMain(m *testing.M) { os.Exit(eventstest.Main(m, &env)) }
//
// It is test infrastructure; no deployed function imports it.
package eventstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/awssecrets"
	"github.com/supabridge/supabridge/shared/awssecrets/smtest"
	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/dynamo/dynamotest"
	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// Env holds what a test package shares: the DynamoDB endpoint.
type Env struct {
	dyn *dynamotest.Server
}

// Main starts the DynamoDB endpoint, runs the package's tests and returns
// the exit code for os.Exit. If no endpoint can be had, it says why and
// fails.
func Main(m *testing.M, env **Env) int {
	srv, err := dynamotest.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	*env = &Env{dyn: srv}
	return m.Run()
}

// Backend is one kind of shared storage.
type Backend struct {
	Name string
	env  *Env
}

// Backends returns the embedded (SQLite) and the AWS (DynamoDB and Secrets
// Manager) backends.
func (e *Env) Backends() []Backend {
	return []Backend{{Name: "sqlite", env: e}, {Name: "dynamodb", env: e}}
}

// Shared is one storage instance that processes share.
type Shared struct {
	backend   string
	sqlitePth string
	key       []byte
	dyn       *dynamotest.Server
	table     string
	sm        *smtest.Server
	prefix    string
	now       func() time.Time
}

// Open creates fresh shared storage for t, removed when t ends. now is the
// clock of the processes' stores (leases and timestamps); nil means
// time.Now.
func (b Backend) Open(t testing.TB, now func() time.Time) *Shared {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	s := &Shared{backend: b.Name, now: now}
	switch b.Name {
	case "sqlite":
		s.sqlitePth = filepath.Join(t.TempDir(), "supabridge.db")
		s.key = bytes.Repeat([]byte{7}, 32)
	default:
		s.dyn = b.env.dyn
		_, s.table = b.env.dyn.NewTable(t)
		s.sm = smtest.NewServer(smtest.Options{})
		t.Cleanup(s.sm.Close)
		s.prefix = "test-" + randomHex(4) + "/"
	}
	return s
}

// Process is one process's clients.
type Process struct {
	Store *store.Store
	// Vault is the process's cache; Raw is the backend vault beneath it.
	Vault *vault.Cache
	Raw   vault.Vault
}

// Process opens a new set of clients on the shared storage, closed when t
// ends.
func (s *Shared) Process(t testing.TB) *Process {
	t.Helper()
	var (
		b store.Backend
		v vault.Vault
	)
	switch s.backend {
	case "sqlite":
		db, err := sqlite.Open(s.sqlitePth)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		sv, err := db.Vault(context.Background(), s.key)
		if err != nil {
			t.Fatal(err)
		}
		b, v = db, sv
	default:
		client := dynamotest.Client(s.dyn.Endpoint())
		b = dynamo.New(client, s.table)
		av, err := awssecrets.New(s.sm.Client(), awssecrets.Options{Prefix: s.prefix})
		if err != nil {
			t.Fatal(err)
		}
		v = av
	}
	st := store.New(b)
	st.Now = s.now
	return &Process{Store: st, Vault: vault.NewCache(v, vault.CacheConfig{TTL: time.Minute}), Raw: v}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Received is one request a Receiver got.
type Received struct {
	Header http.Header
	Body   []byte
	// Status is what the receiver answered.
	Status int
}

// Receiver is a webhook endpoint on loopback that records every request
// and answers with a settable status (200 by default). Safe for
// concurrent use.
type Receiver struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	received []Received
}

// NewReceiver starts a receiver, closed when t ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{status: http.StatusOK}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		status := r.status
		r.received = append(r.received, Received{Header: req.Header.Clone(), Body: body, Status: status})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

// SetStatus makes the receiver answer status from now on.
func (r *Receiver) SetStatus(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// All returns every request received so far.
func (r *Receiver) All() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.received)
}

// Accepted returns the requests answered with a 2xx status, in arrival
// order.
func (r *Receiver) Accepted() []Received {
	var out []Received
	for _, x := range r.All() {
		if x.Status >= 200 && x.Status <= 299 {
			out = append(out, x)
		}
	}
	return out
}
