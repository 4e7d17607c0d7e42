package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/store"
)

// RunBackend runs the suite of the raw store.Backend contract. newBackend
// must return a new, empty backend each call; the suite closes it.
func RunBackend(t *testing.T, newBackend func(t *testing.T) store.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"Conditions", testConditions},
		{"InvalidArguments", testInvalidArguments},
		{"QueryBounds", testQueryBounds},
		{"IndexMembership", testIndexMembership},
		{"LimitAndExhaustion", testLimitAndExhaustion},
		{"LargePages", testLargePages},
		{"ItemSizeLimit", testItemSizeLimit},
		{"ConcurrentCreate", testConcurrentCreate},
		{"NoLostUpdates", testNoLostUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, b)
		})
	}
}

func sameItem(t *testing.T, got, want *store.Item, what string) {
	t.Helper()
	g, w := *got, *want
	if !g.ExpiresAt.Equal(w.ExpiresAt) {
		t.Fatalf("%s: expires %v, want %v", what, g.ExpiresAt, w.ExpiresAt)
	}
	if !bytes.Equal(g.Data, w.Data) {
		t.Fatalf("%s: data %q, want %q", what, g.Data, w.Data)
	}
	g.ExpiresAt, w.ExpiresAt, g.Data, w.Data = time.Time{}, time.Time{}, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func mustGet(t *testing.T, b store.Backend, pk, sk string) *store.Item {
	t.Helper()
	it, err := b.Get(t.Context(), pk, sk)
	mustOK(t, err, "get "+pk+"/"+sk)
	return it
}

func wantNotFound(t *testing.T, b store.Backend, pk, sk string) {
	t.Helper()
	if _, err := b.Get(t.Context(), pk, sk); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %s/%s: %v, want ErrNotFound", pk, sk, err)
	}
}

func testRoundTrip(t *testing.T, b store.Backend) {
	ctx := t.Context()
	wantNotFound(t, b, "P", "missing")
	exp := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	full := &store.Item{
		PK: "P", SK: "full",
		GSI1PK: "G1", GSI1SK: "a", GSI2PK: "G2", GSI2SK: "b", GSI3PK: "G3", GSI3SK: "c",
		Version: 7, ExpiresAt: exp, Data: []byte{0, 1, 2, 0xff, '{', '}'},
	}
	bare := &store.Item{PK: "P", SK: "bare", Version: 1, Data: []byte{}}
	for _, it := range []*store.Item{full, bare} {
		mustOK(t, b.Put(ctx, it, store.Condition{}), "put "+it.SK)
		sameItem(t, mustGet(t, b, it.PK, it.SK), it, "round trip "+it.SK)
	}

	// ExpiresAt is kept to the second, never earlier than asked.
	frac := &store.Item{PK: "P", SK: "frac", Version: 1, ExpiresAt: exp.Add(300 * time.Millisecond), Data: []byte("x")}
	mustOK(t, b.Put(ctx, frac, store.Condition{}), "put frac")
	got := mustGet(t, b, "P", "frac").ExpiresAt
	if got.Before(frac.ExpiresAt) || got.Sub(frac.ExpiresAt) >= time.Second {
		t.Fatalf("expiry %v stored as %v", frac.ExpiresAt, got)
	}

	over := *full
	over.Data, over.Version, over.GSI2PK, over.GSI2SK, over.ExpiresAt = []byte("new"), 8, "", "", time.Time{}
	mustOK(t, b.Put(ctx, &over, store.Condition{}), "overwrite")
	sameItem(t, mustGet(t, b, "P", "full"), &over, "overwritten item")

	mustOK(t, b.Delete(ctx, "P", "full", store.Condition{}), "delete")
	wantNotFound(t, b, "P", "full")
	mustOK(t, b.Delete(ctx, "P", "full", store.Condition{}), "delete a missing item")
}

func testConditions(t *testing.T, b store.Backend) {
	type state int // 0: absent, else the stored version
	cases := []struct {
		name   string
		before state
		del    bool
		cond   store.Condition
		fail   bool
		after  state
	}{
		{"put if absent, absent", 0, false, store.Condition{IfAbsent: true}, false, 9},
		{"put if absent, present", 3, false, store.Condition{IfAbsent: true}, true, 3},
		{"put if version, match", 3, false, store.Condition{IfVersion: 3}, false, 9},
		{"put if version, mismatch", 3, false, store.Condition{IfVersion: 2}, true, 3},
		{"put if version, absent", 0, false, store.Condition{IfVersion: 3}, true, 0},
		{"put unconditionally, present", 3, false, store.Condition{}, false, 9},
		{"put unconditionally, absent", 0, false, store.Condition{}, false, 9},
		{"delete if version, match", 3, true, store.Condition{IfVersion: 3}, false, 0},
		{"delete if version, mismatch", 3, true, store.Condition{IfVersion: 4}, true, 3},
		{"delete if version, absent", 0, true, store.Condition{IfVersion: 3}, true, 0},
		{"delete unconditionally, present", 3, true, store.Condition{}, false, 0},
		{"delete unconditionally, absent", 0, true, store.Condition{}, false, 0},
		{"delete if absent, absent", 0, true, store.Condition{IfAbsent: true}, false, 0},
		{"delete if absent, present", 3, true, store.Condition{IfAbsent: true}, true, 3},
	}
	ctx := t.Context()
	for i, tc := range cases {
		pk := "C" + strconv.Itoa(i)
		if tc.before != 0 {
			mustOK(t, b.Put(ctx, &store.Item{PK: pk, SK: "s", Version: int64(tc.before), Data: []byte("old")}, store.Condition{}), tc.name+": set up")
		}
		var err error
		if tc.del {
			err = b.Delete(ctx, pk, "s", tc.cond)
		} else {
			err = b.Put(ctx, &store.Item{PK: pk, SK: "s", Version: 9, Data: []byte("new")}, tc.cond)
		}
		if tc.fail != errors.Is(err, store.ErrConditionFailed) || (!tc.fail && err != nil) {
			t.Fatalf("%s: %v, want failure %v", tc.name, err, tc.fail)
		}
		it, err := b.Get(ctx, pk, "s")
		switch {
		case tc.after == 0 && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("%s: afterwards get returned %v, want ErrNotFound", tc.name, err)
		case tc.after != 0 && err != nil:
			t.Fatalf("%s: afterwards: %v", tc.name, err)
		case tc.after != 0 && it.Version != int64(tc.after):
			t.Fatalf("%s: afterwards version %d, want %d", tc.name, it.Version, tc.after)
		}
	}
}

func testInvalidArguments(t *testing.T, b store.Backend) {
	ctx := t.Context()
	notSentinel := func(err error, what string) {
		t.Helper()
		if err == nil || errors.Is(err, store.ErrConditionFailed) {
			t.Fatalf("%s: %v, want an argument error", what, err)
		}
	}
	notSentinel(b.Put(ctx, &store.Item{SK: "s", Version: 1}, store.Condition{}), "put without PK")
	notSentinel(b.Put(ctx, &store.Item{PK: "p", Version: 1}, store.Condition{}), "put without SK")
	notSentinel(b.Put(ctx, &store.Item{PK: "p", SK: "s", Version: 1}, store.Condition{IfAbsent: true, IfVersion: 1}), "put with both conditions")
	notSentinel(b.Delete(ctx, "p", "s", store.Condition{IfAbsent: true, IfVersion: 1}), "delete with both conditions")
	wantNotFound(t, b, "p", "s")
	for _, q := range []store.Query{
		{PK: "p", Limit: 0},
		{PK: "p", Limit: -1},
		{PK: "", Limit: 1},
		{Index: "gsi9", PK: "p", Limit: 1},
	} {
		_, err := b.Query(ctx, q)
		notSentinel(err, fmt.Sprintf("query %+v", q))
	}
}

// boundItems stores, for each index, the sort keys a..e in partition "P"
// and decoys in neighbouring partitions.
func boundItems(t *testing.T, b store.Backend) {
	ctx := t.Context()
	for _, sk := range []string{"c", "a", "e", "b", "d"} {
		it := &store.Item{PK: "P", SK: sk, Version: 1, Data: []byte(sk),
			GSI1PK: "P", GSI1SK: sk, GSI2PK: "P", GSI2SK: sk, GSI3PK: "P", GSI3SK: sk}
		mustOK(t, b.Put(ctx, it, store.Condition{}), "put")
	}
	for _, pk := range []string{"P#", "PA", "p", "Q"} {
		for _, sk := range []string{"a", "c", "z"} {
			it := &store.Item{PK: pk, SK: sk, Version: 1, Data: []byte("decoy"),
				GSI1PK: pk, GSI1SK: sk, GSI2PK: pk, GSI2SK: sk, GSI3PK: pk, GSI3SK: sk}
			mustOK(t, b.Put(ctx, it, store.Condition{}), "put decoy")
		}
	}
}

func testQueryBounds(t *testing.T, b store.Backend) {
	boundItems(t, b)
	cases := []struct {
		name          string
		after, before string
		desc          bool
		limit         int
		want          string
	}{
		{"all", "", "", false, 10, "abcde"},
		{"after", "b", "", false, 10, "cde"},
		{"after a missing key", "bb", "", false, 10, "cde"},
		{"after the last", "e", "", false, 10, ""},
		{"before", "", "d", false, 10, "abc"},
		{"before the first", "", "a", false, 10, ""},
		{"between", "a", "e", false, 10, "bcd"},
		{"between missing keys", "a0", "d0", false, 10, "bcd"},
		{"between neighbours", "a", "b", false, 10, ""},
		{"equal bounds", "c", "c", false, 10, ""},
		{"crossed bounds", "d", "b", false, 10, ""},
		{"limit", "", "", false, 2, "ab"},
		{"between with limit", "a", "e", false, 2, "bc"},
		{"descending", "", "", true, 10, "edcba"},
		{"descending before", "", "d", true, 2, "cb"},
		{"descending after", "b", "", true, 10, "edc"},
		{"descending between", "a", "e", true, 2, "dc"},
		{"descending between with room", "a", "e", true, 10, "dcb"},
	}
	for _, idx := range []store.Index{store.IndexPrimary, store.IndexGSI1, store.IndexGSI2, store.IndexGSI3} {
		for _, tc := range cases {
			got, err := b.Query(t.Context(), store.Query{Index: idx, PK: "P", After: tc.after, Before: tc.before, Descending: tc.desc, Limit: tc.limit})
			mustOK(t, err, tc.name)
			var keys string
			for _, it := range got {
				keys += string(it.Data)
			}
			if keys != tc.want {
				t.Fatalf("index %q, %s: got %q, want %q", idx, tc.name, keys, tc.want)
			}
		}
	}
}

func indexKeys(t *testing.T, b store.Backend, idx store.Index, pk string) []string {
	t.Helper()
	got, err := b.Query(t.Context(), store.Query{Index: idx, PK: pk, Limit: 100})
	mustOK(t, err, "query")
	out := make([]string, len(got))
	for i, it := range got {
		out[i] = it.PK + "/" + it.SK
	}
	return out
}

func testIndexMembership(t *testing.T, b store.Backend) {
	ctx := t.Context()
	put := func(it store.Item) {
		t.Helper()
		it.Version, it.Data = 1, []byte("x")
		mustOK(t, b.Put(ctx, &it, store.Condition{}), "put "+it.PK)
	}
	put(store.Item{PK: "a", SK: "s", GSI1PK: "G", GSI1SK: "2"})
	put(store.Item{PK: "b", SK: "s", GSI1PK: "G", GSI1SK: "1", GSI2PK: "G", GSI2SK: "1"})
	put(store.Item{PK: "c", SK: "s", GSI2PK: "G"})                // no sort key: in no index
	put(store.Item{PK: "d", SK: "s", GSI3PK: "", GSI3SK: "lone"}) // no partition key
	sameStrings(t, indexKeys(t, b, store.IndexGSI1, "G"), []string{"b/s", "a/s"}, "gsi1 by its sort key")
	sameStrings(t, indexKeys(t, b, store.IndexGSI2, "G"), []string{"b/s"}, "gsi2 holds only complete keys")
	sameStrings(t, indexKeys(t, b, store.IndexGSI3, "G"), []string{}, "gsi3 empty")

	put(store.Item{PK: "b", SK: "s", GSI1PK: "G", GSI1SK: "3"})
	sameStrings(t, indexKeys(t, b, store.IndexGSI1, "G"), []string{"a/s", "b/s"}, "an overwrite moves the item in gsi1")
	sameStrings(t, indexKeys(t, b, store.IndexGSI2, "G"), []string{}, "an overwrite without gsi2 keys leaves gsi2")
	put(store.Item{PK: "a", SK: "s", GSI1PK: "H", GSI1SK: "2"})
	sameStrings(t, indexKeys(t, b, store.IndexGSI1, "G"), []string{"b/s"}, "moved to another partition")
	sameStrings(t, indexKeys(t, b, store.IndexGSI1, "H"), []string{"a/s"}, "the new partition")
	mustOK(t, b.Delete(ctx, "b", "s", store.Condition{}), "delete")
	sameStrings(t, indexKeys(t, b, store.IndexGSI1, "G"), []string{}, "a deleted item leaves its index")
}

func testLimitAndExhaustion(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const n = 130
	for i := range n {
		sk := fmt.Sprintf("k%04d", i)
		mustOK(t, b.Put(ctx, &store.Item{PK: "L", SK: sk, GSI2PK: "L", GSI2SK: sk, Version: 1, Data: []byte(sk)}, store.Condition{}), "put")
	}
	for _, idx := range []store.Index{store.IndexPrimary, store.IndexGSI2} {
		for _, desc := range []bool{false, true} {
			var sizes []int
			var prev string
			total := 0
			q := store.Query{Index: idx, PK: "L", Limit: 50, Descending: desc}
			for {
				page, err := b.Query(ctx, q)
				mustOK(t, err, "query")
				sizes = append(sizes, len(page))
				for _, it := range page {
					if prev != "" && (it.SK <= prev) != desc {
						t.Fatalf("index %q desc %v: %s after %s", idx, desc, it.SK, prev)
					}
					prev = it.SK
					total++
				}
				if len(page) < q.Limit {
					break
				}
				if desc {
					q.Before = prev
				} else {
					q.After = prev
				}
			}
			if total != n || fmt.Sprint(sizes) != "[50 50 30]" {
				t.Fatalf("index %q desc %v: pages %v, %d items; want [50 50 30] and %d", idx, desc, sizes, total, n)
			}
		}
	}
}

// testLargePages: a limit larger than one DynamoDB response (1 MB) still
// returns that many items.
func testLargePages(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const n, size = 45, 30 << 10
	for i := range n {
		sk := fmt.Sprintf("k%03d", i)
		data := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		mustOK(t, b.Put(ctx, &store.Item{PK: "B", SK: sk, GSI3PK: "B", GSI3SK: sk, Version: 1, Data: data}, store.Condition{}), "put")
	}
	for _, tc := range []struct {
		q    store.Query
		want int
	}{
		{store.Query{PK: "B", Limit: 40}, 40},
		{store.Query{PK: "B", Limit: 100}, n},
		{store.Query{Index: store.IndexGSI3, PK: "B", Limit: 44, Descending: true}, 44},
		{store.Query{PK: "B", After: "k000", Before: "k044", Limit: 43}, 43},
		{store.Query{PK: "B", After: "k000", Before: "k044", Limit: 100}, 43},
	} {
		got, err := b.Query(ctx, tc.q)
		mustOK(t, err, "query")
		if len(got) != tc.want {
			t.Fatalf("query %+v: %d items, want %d", tc.q, len(got), tc.want)
		}
		for _, it := range got {
			if len(it.Data) != size {
				t.Fatalf("item %s has %d bytes", it.SK, len(it.Data))
			}
		}
	}
}

// testItemSizeLimit: both backends refuse what DynamoDB refuses, so that
// what works on one machine works on AWS.
func testItemSizeLimit(t *testing.T, b store.Backend) {
	ctx := t.Context()
	ok := &store.Item{PK: "S", SK: "ok", Version: 1, Data: bytes.Repeat([]byte("x"), 300<<10)}
	mustOK(t, b.Put(ctx, ok, store.Condition{}), "put 300 KB")
	big := &store.Item{PK: "S", SK: "big", Version: 1, Data: bytes.Repeat([]byte("x"), 401<<10)}
	err := b.Put(ctx, big, store.Condition{})
	if err == nil || errors.Is(err, store.ErrConditionFailed) {
		t.Fatalf("put 401 KB: %v, want a size error", err)
	}
	wantNotFound(t, b, "S", "big")
	long := &store.Item{PK: "S", SK: string(bytes.Repeat([]byte("k"), 1025)), Version: 1, Data: []byte("x")}
	if err := b.Put(ctx, long, store.Condition{}); err == nil {
		t.Fatal("put with a 1025-byte sort key succeeded")
	}
}

func testConcurrentCreate(t *testing.T, b store.Backend) {
	ctx := t.Context()
	const n = 50
	errs := race(n, func(i int) error {
		return b.Put(ctx, &store.Item{PK: "race", SK: "s", Version: 1, Data: []byte(strconv.Itoa(i))}, store.Condition{IfAbsent: true})
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("both %d and %d created the item", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConditionFailed):
			t.Fatalf("contender %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody created the item")
	}
	if got := string(mustGet(t, b, "race", "s").Data); got != strconv.Itoa(winner) {
		t.Fatalf("stored %q, want the winner's %d", got, winner)
	}
}

func testNoLostUpdates(t *testing.T, b store.Backend) {
	ctx := t.Context()
	mustOK(t, b.Put(ctx, &store.Item{PK: "counter", SK: "s", Version: 1, Data: []byte("0")}, store.Condition{IfAbsent: true}), "create")
	const workers, each = 8, 10
	errs := race(workers, func(int) error { return Increment(ctx, b, "counter", each) })
	for i, err := range errs {
		mustOK(t, err, fmt.Sprintf("worker %d", i))
	}
	it := mustGet(t, b, "counter", "s")
	if string(it.Data) != strconv.Itoa(workers*each) || it.Version != 1+workers*each {
		t.Fatalf("after %d increments: data %q, version %d", workers*each, it.Data, it.Version)
	}
}

// Increment adds one to a counter item n times through optimistic
// read-modify-write cycles that retry when they lose a race. The item at
// (pk, "s") holds a decimal number; create it first. Tests that share a
// backend between processes use it to check that no update is lost.
func Increment(ctx context.Context, b store.Backend, pk string, n int) error {
	for range n {
		for {
			it, err := b.Get(ctx, pk, "s")
			if err != nil {
				return err
			}
			v, err := strconv.Atoi(string(it.Data))
			if err != nil {
				return err
			}
			next := &store.Item{PK: pk, SK: "s", Version: it.Version + 1, Data: []byte(strconv.Itoa(v + 1))}
			err = b.Put(ctx, next, store.Condition{IfVersion: it.Version})
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrConditionFailed) {
				return err
			}
		}
	}
	return nil
}
