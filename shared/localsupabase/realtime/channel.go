package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
)

// channel is one joined realtime:<name> topic on a socket.
type channel struct {
	sk      *socket
	topic   string
	sub     string // the topic without "realtime:"
	joinRef json.RawMessage
	entries []map[string]json.RawMessage

	mu     sync.Mutex
	token  string
	claims *claims
	closed bool
	expiry *time.Timer
	// attempt counts subscribe runs so a stale one (superseded by a token
	// refresh) does not register old claims.
	attempt int
	since   pglogrepl.LSN
}

func (ch *channel) pushSystem(extension, status, msg string) {
	ch.sk.send(message{
		JoinRef: ch.joinRef,
		Topic:   ch.topic,
		Event:   "system",
		Payload: mustJSON(map[string]string{"channel": ch.sub, "extension": extension, "message": msg, "status": status}),
	}, nil)
}

func (ch *channel) pushClose() {
	ch.sk.send(message{JoinRef: ch.joinRef, Ref: ch.joinRef, Topic: ch.topic, Event: "phx_close", Payload: json.RawMessage("{}")}, nil)
}

// pushChange queues a postgres_changes frame: fastlane, so no refs in
// either serializer.
func (ch *channel) pushChange(payload json.RawMessage, ids []int64) {
	ch.sk.send(message{Topic: ch.topic, Event: "postgres_changes", Payload: payload}, ids)
}

// shutdown ends the channel's subscription and timers; it sends nothing.
func (ch *channel) shutdown() {
	ch.mu.Lock()
	ch.closed = true
	if ch.expiry != nil {
		ch.expiry.Stop()
	}
	ch.mu.Unlock()
	ch.sk.s.stream.unregister(ch)
}

// fail ends the channel with a system error then phx_close, as the real
// server does for token problems.
func (ch *channel) fail(msg string) {
	ch.mu.Lock()
	closed := ch.closed
	ch.mu.Unlock()
	if closed {
		return
	}
	ch.sk.removeChannel(ch)
	ch.shutdown()
	ch.pushSystem("system", "error", msg)
	ch.pushClose()
}

// armExpiry closes the channel when its token expires.
func (ch *channel) armExpiry() {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.expiry != nil {
		ch.expiry.Stop()
	}
	exp := ch.claims.exp
	wait := exp.Sub(ch.sk.s.cfg.Now())
	ch.expiry = time.AfterFunc(wait, func() {
		ago := int64(ch.sk.s.cfg.Now().Sub(exp) / time.Second)
		ch.fail(errTokenExpired(ago).message)
	})
}

func (ch *channel) refreshToken(m message) {
	var p struct {
		AccessToken json.RawMessage `json:"access_token"`
	}
	_ = json.Unmarshal(m.Payload, &p)
	tok, ok := jsonString(p.AccessToken)
	ch.mu.Lock()
	same := tok == ch.token
	ch.mu.Unlock()
	if !ok || tok == "" || strings.HasPrefix(tok, "sb_") || same {
		return
	}
	c, terr := verifyJWT(tok, ch.sk.s.cfg.JWTSecret, ch.sk.s.cfg.Now())
	if terr != nil {
		ch.fail(terr.message)
		return
	}
	ch.mu.Lock()
	ch.token, ch.claims = tok, c
	ch.mu.Unlock()
	ch.armExpiry()
	if len(ch.entries) > 0 {
		ch.startSubscribe()
	}
}

// startSubscribe creates the channel's subscription in the background and
// reports it with a system message once changes really flow.
func (ch *channel) startSubscribe() {
	ch.mu.Lock()
	ch.attempt++
	attempt := ch.attempt
	cl := ch.claims
	ch.mu.Unlock()
	s := ch.sk.s
	go func() {
		ctx, cancel := context.WithTimeout(ch.sk.ctx, 30*time.Second)
		defer cancel()
		bindings := make([]*binding, 0, len(ch.entries))
		for _, e := range ch.entries {
			b, msg := parseBinding(e)
			if msg == "" {
				msg = s.validate(ctx, b, cl.role)
			}
			if msg != "" {
				if ctx.Err() == nil {
					ch.pushSystem("postgres_changes", "error", msg)
				}
				return
			}
			bindings = append(bindings, b)
		}
		for {
			err := s.stream.ensure(ctx)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			ch.pushSystem("postgres_changes", "error", "Realtime was unable to connect to the project database")
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
		var lsnText string
		err := s.pool.QueryRow(ctx, `select pg_current_wal_insert_lsn()::text`).Scan(&lsnText)
		since, perr := pglogrepl.ParseLSN(lsnText)
		if err != nil || perr != nil {
			if ctx.Err() == nil {
				ch.pushSystem("postgres_changes", "error", "Realtime was unable to connect to the project database")
			}
			return
		}
		ch.mu.Lock()
		if ch.closed || ch.attempt != attempt {
			ch.mu.Unlock()
			return
		}
		if ch.since == 0 {
			ch.since = since
		}
		// A token refresh keeps the original start so nothing committed
		// in between is lost, like the real server's upsert.
		s.stream.register(&registration{ch: ch, bindings: bindings, claims: cl, since: ch.since})
		ch.mu.Unlock()
		ch.pushSystem("postgres_changes", "ok", "Subscribed to PostgreSQL")
	}()
}
