package proxy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/proxy"
)

// heapWatch samples the live heap while a transfer runs.
type heapWatch struct {
	stop        chan struct{}
	done        sync.WaitGroup
	base, peak  uint64
	allocsStart uint64
}

var heapSamples = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}

func readHeap() (live, allocated uint64) {
	s := make([]metrics.Sample, len(heapSamples))
	copy(s, heapSamples)
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func watchHeap() *heapWatch {
	runtime.GC()
	h := &heapWatch{stop: make(chan struct{})}
	h.base, h.allocsStart = readHeap()
	h.peak = h.base
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				if live, _ := readHeap(); live > h.peak {
					h.peak = live
				}
			}
		}
	}()
	return h
}

// end returns how much the live heap grew at its peak, and how many bytes
// were allocated in all.
func (h *heapWatch) end() (growth, allocated uint64) {
	close(h.stop)
	h.done.Wait()
	_, a := readHeap()
	return h.peak - h.base, a - h.allocsStart
}

// heapBound is what a streaming transfer may add to the live heap, far
// below the sizes moved.
const heapBound = 16 << 20

// TestStreaming moves a 50 MB Storage-style download and a 5 MB upload
// through the proxy and checks that memory stays flat: the heap never grows
// by more than heapBound, and far fewer bytes are allocated than moved.
// The upstream is a test server linked as the account's project (the local
// Supabase has no Storage API).
func TestStreaming(t *testing.T) {
	up := newTestUpstream(t, "sb_secret_streamingStreaming_00000000")
	w := newWorld(t)
	a := w.keyAccountAt("abcdefghijklmnopqrst", up.URL, up.key)
	const down, upload = 50 << 20, 5 << 20

	t.Run("download", func(t *testing.T) {
		h := watchHeap()
		resp := w.do(request{path: "storage/v1/object/bucket/big.bin?size=" + strconv.Itoa(down), account: a.ID})
		sum := sha256.New()
		n, err := io.Copy(sum, resp.Body)
		resp.Body.Close()
		growth, allocated := h.end()
		if err != nil || n != down || resp.StatusCode != 200 || resp.Header.Get(proxy.HeaderRemote) != "true" {
			t.Fatalf("got %d bytes (%v), status %d", n, err, resp.StatusCode)
		}
		if hex.EncodeToString(sum.Sum(nil)) != patternSum(down) {
			t.Error("downloaded bytes differ from the upstream's")
		}
		t.Logf("50 MB download: heap grew %.1f MB at most, %.1f MB allocated", mb(growth), mb(allocated))
		if growth > heapBound || allocated > down/4 {
			t.Errorf("not streamed: heap grew %.1f MB, %.1f MB allocated", mb(growth), mb(allocated))
		}
	})
	t.Run("upload", func(t *testing.T) {
		h := watchHeap()
		resp := w.do(request{method: http.MethodPost, path: "storage/v1/object/bucket/up.bin", account: a.ID,
			header: http.Header{"Content-Type": {"application/octet-stream"}, "Content-Length": {strconv.Itoa(upload)}},
			body:   io.LimitReader(&patternReader{n: upload}, upload)})
		var got struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		}
		err := json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		growth, allocated := h.end()
		if err != nil || resp.StatusCode != 200 || got.Size != upload || got.SHA256 != patternSum(upload) {
			t.Fatalf("upload answered %d %+v (%v)", resp.StatusCode, got, err)
		}
		t.Logf("5 MB upload: heap grew %.1f MB at most, %.1f MB allocated", mb(growth), mb(allocated))
		if growth > heapBound/2 || allocated > upload/2 {
			t.Errorf("not streamed: heap grew %.1f MB, %.1f MB allocated", mb(growth), mb(allocated))
		}
	})
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

func patternSum(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, &patternReader{n: n})
	return hex.EncodeToString(h.Sum(nil))
}

// TestLambdaResponseLimit: on Lambda the adapter returns whole responses
// of at most 6 MB (binary ones base64-encoded), so larger ones are refused
// with the envelope instead of failing the invocation.
func TestLambdaResponseLimit(t *testing.T) {
	up := newTestUpstream(t, "sb_secret_lambdaLambdaLambda_00000000")
	w := newWorld(t)
	w.h.MaxResponse = proxy.LambdaPayloadLimit
	a := w.keyAccountAt("abcdefghijklmnopqrst", up.URL, up.key)
	for _, tt := range []struct {
		name   string
		query  string
		status int
	}{
		{"50 MB", "size=52428800", 413},
		{"5 MB binary (6.7 MB as base64)", "size=5242880", 413},
		{"4 MB binary", "size=4194304", 200},
		{"5 MB of unknown length", "size=5242880&chunked=1", 413},
		{"1 MB of unknown length", "size=1048576&chunked=1", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := w.call(request{path: "storage/v1/object/bucket/f.bin?" + tt.query, account: a.ID})
			if tt.status != 200 {
				wantEnvelope(t, r, tt.status, bridge.ETOOLARGE)
				return
			}
			wantRemote(t, r, 200)
			if r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
				t.Errorf("Content-Length %q for %d bytes", r.header.Get("Content-Length"), len(r.body))
			}
		})
	}
}
