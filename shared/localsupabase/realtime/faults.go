package realtime

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultJoinRefusal is the join error reason RefuseJoins uses when given
// none: the one the real service sends while it restarts.
const DefaultJoinRefusal = "RealtimeRestarting: Realtime is restarting, please standby"

// Faults switches failure modes of a Server on and off for tests and
// counts the change frames sent per subscription. A new Server starts with
// every fault off. Its methods are safe for concurrent use. It is also an
// http.Handler (see ServeHTTP) for an admin endpoint.
type Faults struct {
	s *Server

	mu             sync.Mutex
	stopHeartbeats bool
	delay          time.Duration
	dropAfter      int
	gen            uint64
	refusal        string
	counts         map[subKey]int64
}

type subKey struct {
	topic string
	id    int64
}

// SubscriptionFrames is the number of postgres_changes frames sent for one
// subscription: a channel topic and a binding id from its join reply.
type SubscriptionFrames struct {
	Topic  string `json:"topic"`
	ID     int64  `json:"id"`
	Frames int64  `json:"frames"`
}

func newFaults(s *Server) *Faults {
	return &Faults{s: s, counts: map[subKey]int64{}}
}

// DropAll drops every open socket now, without a close handshake (the
// client sees an abnormal closure, as on a network failure), and returns
// how many it dropped.
func (f *Faults) DropAll() int {
	socks := f.s.liveSockets()
	for _, sk := range socks {
		sk.drop()
	}
	return len(socks)
}

// DropAfterFrames makes every socket, open now or later, drop (as DropAll
// does) once it has sent n more frames. n <= 0 turns the fault off.
func (f *Faults) DropAfterFrames(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropAfter = max(n, 0)
	f.gen++
}

// StopHeartbeats makes the server ignore (stop=true) or answer heartbeats.
func (f *Faults) StopHeartbeats(stop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopHeartbeats = stop
}

// DelayFrames holds back every frame the server sends by d (0 turns it
// off). Frames keep their order.
func (f *Faults) DelayFrames(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = max(d, 0)
}

// RefuseJoins makes every phx_join fail with reason (DefaultJoinRefusal if
// empty) while refuse is true.
func (f *Faults) RefuseJoins(refuse bool, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !refuse:
		f.refusal = ""
	case reason == "":
		f.refusal = DefaultJoinRefusal
	default:
		f.refusal = reason
	}
}

// Reset turns every fault off. Counters are kept.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopHeartbeats, f.delay, f.dropAfter, f.refusal = false, 0, 0, ""
	f.gen++
}

// FramesSent returns how many postgres_changes frames carrying binding id
// were written on topic (for example "realtime:orders"), across sockets.
func (f *Faults) FramesSent(topic string, id int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[subKey{topic, id}]
}

// Counters returns every subscription's frame count, sorted by topic then
// id.
func (f *Faults) Counters() []SubscriptionFrames {
	f.mu.Lock()
	out := make([]SubscriptionFrames, 0, len(f.counts))
	for k, n := range f.counts {
		out = append(out, SubscriptionFrames{Topic: k.topic, ID: k.id, Frames: n})
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b SubscriptionFrames) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// ResetCounters zeroes the frame counters.
func (f *Faults) ResetCounters() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = map[subKey]int64{}
}

func (f *Faults) generation() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

func (f *Faults) heartbeatsStopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopHeartbeats
}

func (f *Faults) frameDelay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delay
}

func (f *Faults) joinRefusal() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refusal
}

// frameSent records a frame about to be written and reports whether the
// socket must be dropped once it is. Called from the socket's writer
// goroutine only.
func (f *Faults) frameSent(sk *socket, fr outFrame) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range fr.ids {
		f.counts[subKey{fr.topic, id}]++
	}
	if sk.faultGen != f.gen {
		sk.faultGen, sk.sent = f.gen, 0
	}
	sk.sent++
	return f.dropAfter > 0 && sk.sent >= f.dropAfter
}

// faultState is the JSON form of the switches for the admin endpoint.
type faultState struct {
	StopHeartbeats  *bool   `json:"stop_heartbeats,omitempty"`
	FrameDelayMS    *int64  `json:"frame_delay_ms,omitempty"`
	DropAfterFrames *int    `json:"drop_after_frames,omitempty"`
	RefuseJoins     *bool   `json:"refuse_joins,omitempty"`
	JoinRefusal     *string `json:"join_refusal,omitempty"`
}

// ServeHTTP is the admin endpoint, with paths relative to where it is
// mounted (strip the prefix first):
//
//	GET    /            switches and counters
//	PATCH  /            change switches: {"stop_heartbeats": true,
//	                    "frame_delay_ms": 200, "drop_after_frames": 3,
//	                    "refuse_joins": true, "join_refusal": "…"}
//	                    (absent fields are left as they are)
//	DELETE /            turn every fault off
//	POST   /drop        drop every socket now → {"dropped": n}
//	GET    /counters    frames per subscription
//	DELETE /counters    zero the counters
func (f *Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := "/" + strings.Trim(r.URL.Path, "/")
	switch {
	case path == "/" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, f.state())
	case path == "/" && r.Method == http.MethodPatch:
		var st faultState
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid fault settings: " + err.Error()})
			return
		}
		if st.StopHeartbeats != nil {
			f.StopHeartbeats(*st.StopHeartbeats)
		}
		if st.FrameDelayMS != nil {
			f.DelayFrames(time.Duration(*st.FrameDelayMS) * time.Millisecond)
		}
		if st.DropAfterFrames != nil {
			f.DropAfterFrames(*st.DropAfterFrames)
		}
		if st.RefuseJoins != nil || st.JoinRefusal != nil {
			reason := ""
			if st.JoinRefusal != nil {
				reason = *st.JoinRefusal
			}
			f.RefuseJoins(st.RefuseJoins == nil || *st.RefuseJoins, reason)
		}
		writeJSON(w, http.StatusOK, f.state())
	case path == "/" && r.Method == http.MethodDelete:
		f.Reset()
		writeJSON(w, http.StatusOK, f.state())
	case path == "/drop" && r.Method == http.MethodPost:
		writeJSON(w, http.StatusOK, map[string]int{"dropped": f.DropAll()})
	case path == "/counters" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, f.Counters())
	case path == "/counters" && r.Method == http.MethodDelete:
		f.ResetCounters()
		writeJSON(w, http.StatusOK, f.Counters())
	case path == "/" || path == "/drop" || path == "/counters":
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

func (f *Faults) state() map[string]any {
	f.mu.Lock()
	st := map[string]any{
		"stop_heartbeats":   f.stopHeartbeats,
		"frame_delay_ms":    f.delay.Milliseconds(),
		"drop_after_frames": f.dropAfter,
		"refuse_joins":      f.refusal != "",
		"join_refusal":      f.refusal,
	}
	f.mu.Unlock()
	st["counters"] = f.Counters()
	return st
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
