package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// sessionSettings make every text value the server reads (from the
// walsender and from casts) come out in one known format, the one the
// hosted databases use.
var sessionSettings = map[string]string{
	"timezone":                    "UTC",
	"datestyle":                   "ISO, MDY",
	"intervalstyle":               "postgres",
	"bytea_output":                "hex",
	"standard_conforming_strings": "on",
}

// registration is one channel's live postgres_changes subscription.
type registration struct {
	ch       *channel
	bindings []*binding
	claims   *claims
	// since is the WAL insert position when the subscription came to
	// exist: transactions whose commit record lies before it are never
	// delivered, so nothing committed earlier (for example while a client
	// was away) reaches the subscriber.
	since pglogrepl.LSN
}

// stream is the server's single logical decoding stream and the registry
// of subscriptions it feeds.
type stream struct {
	s *Server

	mu       sync.Mutex
	running  bool
	starting *startAttempt

	regMu sync.RWMutex
	regs  map[*channel]*registration

	// Owned by the decoding goroutine.
	rels      map[uint32]*relation
	txLSN     pglogrepl.LSN
	txTime    time.Time
	typeCache typeCache
}

var errClosed = errors.New("realtime: server closed")

type startAttempt struct {
	done chan struct{}
	err  error
}

func newStream(s *Server) *stream {
	return &stream{s: s, regs: map[*channel]*registration{}, rels: map[uint32]*relation{}, typeCache: typeCache{pool: s.pool, m: map[uint32]typeInfo{}}}
}

func (st *stream) register(r *registration) {
	st.regMu.Lock()
	st.regs[r.ch] = r
	st.regMu.Unlock()
}

func (st *stream) unregister(ch *channel) {
	st.regMu.Lock()
	delete(st.regs, ch)
	st.regMu.Unlock()
}

func (st *stream) snapshot() []*registration {
	st.regMu.RLock()
	defer st.regMu.RUnlock()
	out := make([]*registration, 0, len(st.regs))
	for _, r := range st.regs {
		out = append(out, r)
	}
	return out
}

func (st *stream) hasRegistrations() bool {
	st.regMu.RLock()
	defer st.regMu.RUnlock()
	return len(st.regs) > 0
}

// ensure returns once the decoding stream runs (its slot exists), starting
// it if needed.
func (st *stream) ensure(ctx context.Context) error {
	st.mu.Lock()
	if st.running {
		st.mu.Unlock()
		return nil
	}
	if st.starting == nil {
		// Registering with the WaitGroup under the server's lock, after
		// checking it is open, keeps Close's Wait from racing this Add.
		st.s.mu.Lock()
		if st.s.closed {
			st.s.mu.Unlock()
			st.mu.Unlock()
			return errClosed
		}
		st.s.wg.Add(1)
		st.s.mu.Unlock()
		a := &startAttempt{done: make(chan struct{})}
		st.starting = a
		go st.start(a)
	}
	a := st.starting
	st.mu.Unlock()
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *stream) start(a *startAttempt) {
	defer st.s.wg.Done()
	conn, err := st.connect()
	st.mu.Lock()
	st.starting = nil
	a.err = err
	st.running = err == nil
	st.mu.Unlock()
	close(a.done)
	if err != nil {
		st.s.log.Warn("realtime: start replication", "err", err)
		return
	}
	err = st.loop(conn)
	_ = conn.Close(context.Background())
	st.mu.Lock()
	st.running = false
	st.mu.Unlock()
	if st.s.ctx.Err() != nil {
		return
	}
	// The temporary slot died with its connection: changes until the next
	// slot exists are lost, as on the real service.
	st.s.log.Warn("realtime: replication stream ended; restarting", "err", err)
	select {
	case <-st.s.ctx.Done():
		return
	case <-time.After(time.Second):
	}
	if st.hasRegistrations() {
		_ = st.ensure(st.s.ctx)
	}
}

func (st *stream) connect() (*pgconn.PgConn, error) {
	ctx, cancel := context.WithTimeout(st.s.ctx, 30*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig(st.s.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["replication"] = "database"
	for k, v := range sessionSettings {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replication connection: %w", err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	slot := "supabase_realtime_replication_slot_" + hex.EncodeToString(suffix[:])
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true, Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("create replication slot: %w", err)
	}
	start, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("slot consistent point: %w", err)
	}
	err = pglogrepl.StartReplication(ctx, conn, slot, start, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publication + "'"},
	})
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("start replication: %w", err)
	}
	return conn, nil
}

const standbyInterval = 5 * time.Second

// loop reads the stream until the server closes or the connection fails,
// handing every change to dispatch in commit order.
func (st *stream) loop(conn *pgconn.PgConn) error {
	var received pglogrepl.LSN
	next := time.Now().Add(standbyInterval)
	for {
		if !time.Now().Before(next) {
			if err := pglogrepl.SendStandbyStatusUpdate(st.s.ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: received}); err != nil {
				return err
			}
			next = time.Now().Add(standbyInterval)
		}
		ctx, cancel := context.WithDeadline(st.s.ctx, next)
		raw, err := conn.ReceiveMessage(ctx)
		cancel()
		if err != nil {
			if st.s.ctx.Err() != nil {
				return st.s.ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue
			}
			return err
		}
		switch msg := raw.(type) {
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(msg)
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return err
				}
				if ka.ServerWALEnd > received {
					received = ka.ServerWALEnd
				}
				if ka.ReplyRequested {
					next = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return err
				}
				if err := st.handle(xld.WALData); err != nil {
					return err
				}
				if end := xld.WALStart + pglogrepl.LSN(len(xld.WALData)); end > received {
					received = end
				}
			}
		}
	}
}

func (st *stream) handle(data []byte) error {
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return fmt.Errorf("decode pgoutput: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		st.rels[m.RelationID] = newRelation(m)
	case *pglogrepl.BeginMessage:
		st.txLSN, st.txTime = m.FinalLSN, m.CommitTime
	case *pglogrepl.InsertMessage:
		return st.change("INSERT", m.RelationID, m.Tuple, nil, 0)
	case *pglogrepl.UpdateMessage:
		return st.change("UPDATE", m.RelationID, m.NewTuple, m.OldTuple, m.OldTupleType)
	case *pglogrepl.DeleteMessage:
		return st.change("DELETE", m.RelationID, nil, m.OldTuple, m.OldTupleType)
	}
	return nil
}

func (st *stream) change(action string, relID uint32, newT, oldT *pglogrepl.TupleData, oldKind uint8) error {
	rel := st.rels[relID]
	if rel == nil {
		return fmt.Errorf("change for unknown relation %d", relID)
	}
	regs := st.snapshot()
	var cands []candidate
	for _, r := range regs {
		if st.txLSN < r.since {
			continue
		}
		var matched []*binding
		for _, b := range r.bindings {
			if (b.action == "*" || b.action == action) &&
				(b.schema == "*" || b.schema == rel.schema) &&
				(b.table == "*" || b.table == rel.table) {
				matched = append(matched, b)
			}
		}
		if len(matched) > 0 {
			cands = append(cands, candidate{reg: r, bindings: matched})
		}
	}
	if len(cands) == 0 {
		return nil
	}
	c := &change{
		action:     action,
		rel:        rel,
		commitTime: st.txTime,
		newT:       newT,
		oldT:       oldT,
		oldKind:    oldKind,
	}
	ctx, cancel := context.WithTimeout(st.s.ctx, 30*time.Second)
	defer cancel()
	if err := st.deliver(ctx, c, cands); err != nil {
		if st.s.ctx.Err() != nil {
			return st.s.ctx.Err()
		}
		// A failed read (a dropped role, a type that will not cast) skips
		// this change for its subscribers; the stream itself is fine.
		st.s.log.Warn("realtime: change not delivered", "schema", rel.schema, "table", rel.table, "err", err)
	}
	return nil
}

type candidate struct {
	reg      *registration
	bindings []*binding
}
