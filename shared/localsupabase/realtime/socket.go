package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

const (
	maxChannelsPerSocket = 100
	// maxQueuedFrames bounds a slow reader's backlog; past it the socket is
	// dropped rather than letting the server's memory grow without end.
	maxQueuedFrames = 200_000
)

// outFrame is a queued server frame; topic and ids feed the per
// subscription frame counters.
type outFrame struct {
	data  []byte
	topic string
	ids   []int64
}

// socket is one WebSocket connection and its channels.
type socket struct {
	s      *Server
	ws     *websocket.Conn
	vsn    string
	token  string
	claims *claims

	ctx    context.Context
	cancel context.CancelFunc

	qmu    sync.Mutex
	queue  []outFrame
	signal chan struct{}

	mu       sync.Mutex
	channels map[string]*channel

	// Writer goroutine only: frames written since the drop-after fault
	// was (re)armed.
	faultGen uint64
	sent     int

	closeOnce sync.Once
}

func newSocket(s *Server, ws *websocket.Conn, vsn, token string, c *claims) *socket {
	ctx, cancel := context.WithCancel(s.ctx)
	return &socket{
		s: s, ws: ws, vsn: vsn, token: token, claims: c,
		ctx: ctx, cancel: cancel,
		signal:   make(chan struct{}, 1),
		channels: map[string]*channel{},
		faultGen: s.faults.generation(),
	}
}

// run serves the socket until it closes.
func (sk *socket) run() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sk.writeLoop()
	}()
	idle := time.AfterFunc(sk.s.cfg.IdleTimeout, func() { sk.close(websocket.StatusNormalClosure, "") })
	for {
		typ, data, err := sk.ws.Read(sk.ctx)
		if err != nil {
			break
		}
		idle.Reset(sk.s.cfg.IdleTimeout)
		if typ != websocket.MessageText {
			// Binary frames carry broadcast, which this server does not
			// implement; they are ignored like unknown events.
			continue
		}
		m, err := decodeMessage(sk.vsn, data)
		if err != nil {
			sk.s.log.Info("realtime: MalformedWebSocketMessage")
			continue
		}
		sk.handle(m)
	}
	idle.Stop()
	sk.close(websocket.StatusNormalClosure, "")
	<-done
	sk.mu.Lock()
	chans := make([]*channel, 0, len(sk.channels))
	for _, ch := range sk.channels {
		chans = append(chans, ch)
	}
	sk.channels = map[string]*channel{}
	sk.mu.Unlock()
	for _, ch := range chans {
		ch.shutdown()
	}
}

// close ends the socket with a close frame.
func (sk *socket) close(code websocket.StatusCode, reason string) {
	sk.closeOnce.Do(func() {
		go func() {
			_ = sk.ws.Close(code, reason)
			sk.cancel()
		}()
	})
}

// drop ends the socket without a close handshake, as a network failure
// would.
func (sk *socket) drop() {
	sk.closeOnce.Do(func() {
		_ = sk.ws.CloseNow()
		sk.cancel()
	})
}

func (sk *socket) send(m message, ids []int64) {
	sk.enqueue(outFrame{data: encodeMessage(sk.vsn, m), topic: m.Topic, ids: ids})
}

func (sk *socket) enqueue(f outFrame) {
	sk.qmu.Lock()
	if sk.ctx.Err() != nil {
		sk.qmu.Unlock()
		return
	}
	if len(sk.queue) >= maxQueuedFrames {
		sk.qmu.Unlock()
		sk.s.log.Warn("realtime: client too slow; dropping socket")
		sk.drop()
		return
	}
	sk.queue = append(sk.queue, f)
	sk.qmu.Unlock()
	select {
	case sk.signal <- struct{}{}:
	default:
	}
}

func (sk *socket) writeLoop() {
	for {
		sk.qmu.Lock()
		batch := sk.queue
		sk.queue = nil
		sk.qmu.Unlock()
		if len(batch) == 0 {
			select {
			case <-sk.ctx.Done():
				return
			case <-sk.signal:
				continue
			}
		}
		for _, f := range batch {
			if d := sk.s.faults.frameDelay(); d > 0 {
				select {
				case <-sk.ctx.Done():
					return
				case <-time.After(d):
				}
			}
			// Counted before the write, so a client that has read a frame
			// knows it is counted: a fault switched on after that never
			// counts it again.
			last := sk.s.faults.frameSent(sk, f)
			if err := sk.ws.Write(sk.ctx, websocket.MessageText, f.data); err != nil || last {
				sk.drop()
				return
			}
		}
	}
}

func (sk *socket) handle(m message) {
	if m.Topic == "phoenix" && m.Event == "heartbeat" {
		if sk.s.faults.heartbeatsStopped() {
			return
		}
		sk.send(reply(m, "ok", struct{}{}), nil)
		return
	}
	if m.Event == "phx_join" {
		sk.join(m)
		return
	}
	sk.mu.Lock()
	ch := sk.channels[m.Topic]
	sk.mu.Unlock()
	if ch == nil {
		if m.Event == "phx_leave" {
			sk.send(reply(m, "ok", struct{}{}), nil)
		} else {
			sk.send(reply(m, "error", map[string]string{"reason": "unmatched topic"}), nil)
		}
		return
	}
	switch m.Event {
	case "phx_leave":
		sk.send(reply(m, "ok", struct{}{}), nil)
		sk.removeChannel(ch)
		ch.shutdown()
		ch.pushClose()
	case "access_token":
		ch.refreshToken(m)
	default:
		// The real server counts and ignores events it has no handler
		// for; broadcast and presence, outside this stand-in's scope, land here too.
	}
}

func (sk *socket) removeChannel(ch *channel) {
	sk.mu.Lock()
	if sk.channels[ch.topic] == ch {
		delete(sk.channels, ch.topic)
	}
	sk.mu.Unlock()
}

// joinPayload is the part of a phx_join payload the server reads.
type joinPayload struct {
	Config *struct {
		PostgresChanges json.RawMessage `json:"postgres_changes"`
		Private         json.RawMessage `json:"private"`
	} `json:"config"`
	AccessToken json.RawMessage `json:"access_token"`
	UserToken   json.RawMessage `json:"user_token"`
}

func (sk *socket) join(m message) {
	if !strings.HasPrefix(m.Topic, "realtime:") {
		sk.send(reply(m, "error", map[string]string{"reason": "unmatched topic"}), nil)
		return
	}
	sk.mu.Lock()
	old := sk.channels[m.Topic]
	if old != nil {
		delete(sk.channels, m.Topic)
	}
	count := len(sk.channels)
	sk.mu.Unlock()
	if old != nil {
		// Phoenix closes the previous channel on a duplicate join.
		old.shutdown()
		old.pushClose()
	}
	sub := strings.TrimPrefix(m.Topic, "realtime:")
	fail := func(reason string) {
		r := reply(m, "error", map[string]string{"reason": reason})
		if d := sk.s.cfg.JoinErrorDelay; d > 0 {
			time.AfterFunc(d, func() { sk.send(r, nil) })
			return
		}
		sk.send(r, nil)
	}
	if sub == "" {
		fail("TopicNameRequired: You must provide a topic name")
		return
	}
	if reason := sk.s.faults.joinRefusal(); reason != "" {
		fail(reason)
		return
	}
	if count >= maxChannelsPerSocket {
		fail("ChannelRateLimitReached: Too many channels")
		return
	}
	var p joinPayload
	if json.Unmarshal(m.Payload, &p) != nil {
		// An invalid payload does not fail a join on the real server; it
		// continues with defaults.
		p = joinPayload{}
	}
	token, cl := sk.token, sk.claims
	at, ok := jsonString(p.AccessToken)
	if !ok {
		at, ok = jsonString(p.UserToken)
	}
	if ok && at != "" && !strings.HasPrefix(at, "sb_") {
		c, terr := verifyJWT(at, sk.s.cfg.JWTSecret, sk.s.cfg.Now())
		if terr != nil {
			fail(terr.code + ": " + terr.message)
			return
		}
		token, cl = at, c
	} else if now := sk.s.cfg.Now(); !cl.exp.After(now) {
		e := errTokenExpired(int64(now.Sub(cl.exp) / time.Second))
		fail(e.code + ": " + e.message)
		return
	}
	var entries []map[string]json.RawMessage
	var private bool
	if p.Config != nil {
		private = flexibleBool(p.Config.Private)
		var raw []json.RawMessage
		if json.Unmarshal(p.Config.PostgresChanges, &raw) == nil {
			for _, e := range raw {
				if nullable(e) == nil {
					continue
				}
				var obj map[string]json.RawMessage
				if json.Unmarshal(e, &obj) != nil || obj == nil {
					fail("Unknown Error on Channel")
					return
				}
				entries = append(entries, obj)
			}
		}
	}
	if private {
		// Private channels are authorized by RLS policies on
		// realtime.messages, which the stand-in does not have.
		fail("Unauthorized: You do not have permissions to read from this Channel topic: " + sub)
		return
	}
	ch := &channel{sk: sk, topic: m.Topic, sub: sub, joinRef: m.JoinRef, entries: entries, token: token, claims: cl}
	echo := make([]map[string]json.RawMessage, len(entries))
	for i, e := range entries {
		cp := make(map[string]json.RawMessage, len(e)+1)
		for k, v := range e {
			cp[k] = v
		}
		cp["id"] = mustJSON(entryID(e))
		echo[i] = cp
	}
	sk.mu.Lock()
	sk.channels[m.Topic] = ch
	sk.mu.Unlock()
	sk.send(reply(m, "ok", map[string]any{"postgres_changes": echo}), nil)
	ch.armExpiry()
	if len(entries) > 0 {
		ch.startSubscribe()
	}
}

// flexibleBool reads true/false or their strings in any case.
func flexibleBool(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	s, _ := jsonString(raw)
	return strings.EqualFold(s, "true")
}
