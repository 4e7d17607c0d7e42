package supabase

import (
	"strings"
	"testing"
)

func TestParseLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want map[string]string
	}{
		{"auth next and last", `</admin/users?page=2&per_page=1>; rel="next", </admin/users?page=2&per_page=1>; rel="last"`,
			map[string]string{"next": "/admin/users?page=2&per_page=1", "last": "/admin/users?page=2&per_page=1"}},
		{"only last", `</admin/users?page=0>; rel="last"`, map[string]string{"last": "/admin/users?page=0"}},
		{"commas and semicolons in targets", `<https://x/a?q=1,2;3>; rel=next, <https://x/b>; title="a, b; c"; rel="prev first"`,
			map[string]string{"next": "https://x/a?q=1,2;3", "prev": "https://x/b", "first": "https://x/b"}},
		{"upper-case relation, extra params", `<u1>; type="text/html"; REL="Next"`, map[string]string{"next": "u1"}},
		{"first wins", `<a>; rel=next, <b>; rel=next`, map[string]string{"next": "a"}},
		{"junk between links", `garbage, <a>; rel=next, junk; x, <b>; rel=last`, map[string]string{"next": "a", "last": "b"}},
		{"space-separated relations", `<a>; rel=next last`, map[string]string{"next": "a", "last": "a"}},
		{"unterminated", `<a; rel=next`, map[string]string{}},
		{"empty", ``, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertEqual(t, "links", ParseLink(tc.in), tc.want)
		})
	}
}

func TestPageOf(t *testing.T) {
	for in, want := range map[string]int{
		"/admin/users?page=12&per_page=1": 12, "/admin/users?per_page=1": 0, "/x?page=-1": 0, "/x?page=abc": 0, "%zz": 0,
	} {
		assertEqual(t, in, pageOf(in), want)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ContentRange
		ok   bool
	}{
		{"0-24/3573458", ContentRange{Start: 0, End: 24, HasRange: true, Total: 3573458}, true},
		{"0-14/*", ContentRange{Start: 0, End: 14, HasRange: true, Total: -1}, true},
		{"*/0", ContentRange{Total: 0}, true},
		{"*/*", ContentRange{Total: -1}, true},
		{"items 5-9/10", ContentRange{Start: 5, End: 9, HasRange: true, Total: 10}, true},
		{"0-999/500", ContentRange{Start: 0, End: 999, HasRange: true, Total: 500}, true},
		{"9-5/10", ContentRange{}, false},
		{"-1-5/10", ContentRange{}, false},
		{"0-5", ContentRange{}, false},
		{"a-b/c", ContentRange{}, false},
		{"0-5/+7", ContentRange{}, false},
		{"0-99999999999999999999/1", ContentRange{}, false},
		{"", ContentRange{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseContentRange(tc.in)
			assertEqual(t, "ok", ok, tc.ok)
			if ok {
				assertEqual(t, "range", got, tc.want)
			}
		})
	}
}

func FuzzParseLink(f *testing.F) {
	for _, s := range []string{
		`</admin/users?page=2&per_page=1>; rel="next", </admin/users?page=2&per_page=1>; rel="last"`,
		`<a>; rel="x\"y"; t="\`, `<<>>;;rel=,,`, `<a>; rel`, `"<a>"; rel=next`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		links := ParseLink(h)
		for rel, target := range links {
			if rel == "" || rel != strings.ToLower(rel) {
				t.Fatalf("relation %q", rel)
			}
			if !strings.Contains(h, "<"+target+">") {
				t.Fatalf("target %q is not a <…> of the input", target)
			}
			_ = pageOf(target)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-24/3573458", "*/*", "*/0", "items 1-2/3", "5-4/3", "0-/1", "- /"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		cr, ok := ParseContentRange(h)
		if !ok {
			return
		}
		if cr.Total < -1 || cr.Start < 0 || cr.End < cr.Start || cr.Len() < 0 {
			t.Fatalf("%q → %+v", h, cr)
		}
		if !cr.HasRange && (cr.Start != 0 || cr.End != 0) {
			t.Fatalf("%q → range without HasRange: %+v", h, cr)
		}
	})
}
