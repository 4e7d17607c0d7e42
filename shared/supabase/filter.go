package supabase

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Filter is one horizontal filter of a Data API request, built with Eq,
// In, Or and the other constructors. Values are rendered and quoted the way
// PostgREST's grammar needs: as is in a top-level filter (where everything
// after the operator is the value), double-quoted with backslash escapes
// inside in.(…) lists and or/and trees, where commas, dots, colons,
// parentheses and quotes would otherwise be read as syntax. The zero
// Filter is invalid and is refused when a request is built.
type Filter struct {
	column   string
	op       string // eq, in, is, cs, …; "or"/"and" for trees
	value    string
	list     []string
	children []Filter
	not      bool
}

// IsValue is a value the is operator accepts.
type IsValue string

// Values of the is operator.
const (
	IsNull    IsValue = "null"
	IsNotNull IsValue = "not_null"
	IsTrue    IsValue = "true"
	IsFalse   IsValue = "false"
	IsUnknown IsValue = "unknown"
)

// Eq is column = v.
func Eq(column string, v any) Filter { return Op(column, "eq", v) }

// Neq is column <> v.
func Neq(column string, v any) Filter { return Op(column, "neq", v) }

// Gt is column > v.
func Gt(column string, v any) Filter { return Op(column, "gt", v) }

// Gte is column >= v.
func Gte(column string, v any) Filter { return Op(column, "gte", v) }

// Lt is column < v.
func Lt(column string, v any) Filter { return Op(column, "lt", v) }

// Lte is column <= v.
func Lte(column string, v any) Filter { return Op(column, "lte", v) }

// Like is column LIKE pattern; PostgREST also reads * as %.
func Like(column, pattern string) Filter { return Op(column, "like", pattern) }

// ILike is column ILIKE pattern.
func ILike(column, pattern string) Filter { return Op(column, "ilike", pattern) }

// Is is column IS v (null, not_null, true, false, unknown).
func Is(column string, v IsValue) Filter { return Filter{column: column, op: "is", value: string(v)} }

// In is column IN (vs…). An empty list matches nothing.
func In[T any](column string, vs ...T) Filter {
	f := Filter{column: column, op: "in", list: make([]string, len(vs))}
	for i, v := range vs {
		f.list[i] = formatValue(v)
	}
	return f
}

// Contains is column @> {vs…} for array columns.
func Contains[T any](column string, vs ...T) Filter {
	return Filter{column: column, op: "cs", value: pgArray(vs)}
}

// ContainedBy is column <@ {vs…} for array columns.
func ContainedBy[T any](column string, vs ...T) Filter {
	return Filter{column: column, op: "cd", value: pgArray(vs)}
}

// Op is column <operator> v for any of PostgREST's single-value operators
// without a constructor here (match, imatch, isdistinct, fts, …).
func Op(column, operator string, v any) Filter {
	return Filter{column: column, op: operator, value: formatValue(v)}
}

// Not negates a filter.
func Not(f Filter) Filter {
	f.not = !f.not
	return f
}

// Or matches rows that pass any of fs.
func Or(fs ...Filter) Filter { return Filter{op: "or", children: fs} }

// And matches rows that pass all of fs (top-level filters are already
// ANDed; And is for nesting inside Or).
func And(fs ...Filter) Filter { return Filter{op: "and", children: fs} }

// formatValue renders a filter value as PostgreSQL reads it.
func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// quote double-quotes a value for PostgREST's lists and logic trees.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// pgArray renders a PostgreSQL array literal with every element quoted.
func pgArray[T any](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = quote(formatValue(v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// ident renders a column (or embedded path such as films.year, or a JSON
// path such as data->>name) as a filter key; names with other characters
// are double-quoted.
func ident(name string) string {
	for _, r := range name {
		if !(r == '_' || r == '$' || r == '.' || r == '-' || r == '>' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r > 127 && r != '\u00a0') {
			return quote(name)
		}
	}
	return name
}

// ident for names inside logic trees and select/order lists, where dots
// are syntax: anything but plain identifiers and JSON paths is quoted.
func identStrict(name string) string {
	for _, r := range name {
		if !(r == '_' || r == '$' || r == '-' || r == '>' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r > 127 && r != '\u00a0') {
			return quote(name)
		}
	}
	return name
}

func (f Filter) validate() error {
	switch f.op {
	case "":
		return fmt.Errorf("supabase: empty filter")
	case "or", "and":
		if len(f.children) == 0 {
			return fmt.Errorf("supabase: %s() needs at least one filter", f.op)
		}
		for _, c := range f.children {
			if err := c.validate(); err != nil {
				return err
			}
		}
		return nil
	}
	if f.column == "" {
		return fmt.Errorf("supabase: %s filter without a column", f.op)
	}
	for _, r := range f.op {
		if !(r >= 'a' && r <= 'z' || r == '_' || r == '(' || r == ')' || r >= '0' && r <= '9') {
			return fmt.Errorf("supabase: invalid filter operator %q", f.op)
		}
	}
	return nil
}

// operand renders "[not.]op.value"; quoted says whether the value must be
// quoted (inside a logic tree).
func (f Filter) operand(quoted bool) string {
	var b strings.Builder
	if f.not {
		b.WriteString("not.")
	}
	b.WriteString(f.op)
	b.WriteByte('.')
	switch {
	case f.op == "in":
		items := make([]string, len(f.list))
		for i, v := range f.list {
			items[i] = quote(v)
		}
		b.WriteString("(" + strings.Join(items, ",") + ")")
	case f.op == "is" || !quoted:
		b.WriteString(f.value)
	default:
		b.WriteString(quote(f.value))
	}
	return b.String()
}

// tree renders a logic tree's inside: "(a.eq.1,and(b.gt.2))".
func (f Filter) tree() string {
	parts := make([]string, len(f.children))
	for i, c := range f.children {
		if c.op == "or" || c.op == "and" {
			prefix := ""
			if c.not {
				prefix = "not."
			}
			parts[i] = prefix + c.op + c.tree()
		} else {
			parts[i] = identStrict(c.column) + "." + c.operand(true)
		}
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// addTo adds the filter to a query string.
func (f Filter) addTo(q url.Values) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.op == "or" || f.op == "and" {
		key := f.op
		if f.not {
			key = "not." + key
		}
		q.Add(key, f.tree())
		return nil
	}
	q.Add(ident(f.column), f.operand(false))
	return nil
}

// String renders the filter as the query parameter it becomes.
func (f Filter) String() string {
	q := url.Values{}
	if err := f.addTo(q); err != nil {
		return "invalid filter"
	}
	for k, v := range q {
		return k + "=" + v[0]
	}
	return ""
}
