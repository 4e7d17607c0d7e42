package store

import (
	"testing"
	"time"
)

// timeKey's string order must be time order: the refresh and due indexes
// range over it with plain string bounds.
func TestTimeKeyOrder(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	plus2 := time.FixedZone("UTC+2", 2*3600)
	cases := []struct {
		name string
		a, b time.Time
	}{
		{"a nanosecond", base, base.Add(time.Nanosecond)},
		{"across a second", base.Add(999_999_999), base.Add(time.Second)},
		{"zone does not matter", base.In(plus2), base.Add(time.Minute)},
		{"zero time first", time.Time{}, base},
		{"across years", time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		if ka, kb := timeKey(tc.a), timeKey(tc.b); ka >= kb {
			t.Errorf("%s: %q sorts at or after %q", tc.name, ka, kb)
		}
	}
	if timeKey(base.In(plus2)) != timeKey(base) {
		t.Error("one instant in two zones has two keys")
	}
}

func FuzzTimeKeyOrder(f *testing.F) {
	f.Add(int64(0), int64(1))
	f.Add(int64(1_767_225_600_000_000_000), int64(1_767_225_600_000_000_001))
	f.Add(int64(-1), int64(1))
	f.Fuzz(func(t *testing.T, a, b int64) {
		ta, tb := time.Unix(0, a), time.Unix(0, b)
		ka, kb := timeKey(ta), timeKey(tb)
		if (ka < kb) != ta.Before(tb) || (ka == kb) != ta.Equal(tb) {
			t.Fatalf("%v vs %v: keys %q vs %q", ta, tb, ka, kb)
		}
	})
}

func TestClampLimit(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-5, DefaultLimit}, {0, DefaultLimit}, {1, 1}, {MaxLimit, MaxLimit}, {MaxLimit + 1, MaxLimit},
	} {
		if got := clampLimit(tc.in); got != tc.want {
			t.Errorf("clampLimit(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
