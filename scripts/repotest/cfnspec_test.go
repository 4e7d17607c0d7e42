package repotest

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The CloudFormation resource specification comes from AWS's own data
// package, @aws-cdk/aws-service-spec (pinned in scripts/js), whose database
// is built from the CloudFormation registry schemas and SAM's specification.

// specType is a property type in the database.
type specType struct {
	Type      string     `json:"type"`
	Element   *specType  `json:"element"`
	Types     []specType `json:"types"`
	Reference *struct {
		ID string `json:"$ref"`
	} `json:"reference"`
}

type specProperty struct {
	Type     specType `json:"type"`
	Required bool     `json:"required"`
}

type specEntity struct {
	ID         string                  `json:"$id"`
	CFNType    string                  `json:"cloudFormationType"`
	Name       string                  `json:"name"`
	Properties map[string]specProperty `json:"properties"`
	Attributes map[string]any          `json:"attributes"`
}

type cfnSpec struct {
	resources map[string]*specEntity // by CloudFormation type
	types     map[string]*specEntity // type definitions by $id
	byName    map[string][]*specEntity
}

func loadSpec(t *testing.T) *cfnSpec {
	t.Helper()
	path := filepath.Join(root(t), "scripts", "js", "node_modules", "@aws-cdk", "aws-service-spec", "db.json.gz")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("AWS's resource specification is missing (%v): run `npm ci` in scripts/js", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var db struct {
		Schema struct {
			Resource struct {
				Entities []*specEntity `json:"entities"`
			} `json:"resource"`
			TypeDefinition struct {
				Entities []*specEntity `json:"entities"`
			} `json:"typeDefinition"`
		} `json:"schema"`
	}
	if err := json.NewDecoder(zr).Decode(&db); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	s := &cfnSpec{resources: map[string]*specEntity{}, types: map[string]*specEntity{}, byName: map[string][]*specEntity{}}
	for _, e := range db.Schema.Resource.Entities {
		s.resources[e.CFNType] = e
	}
	for _, e := range db.Schema.TypeDefinition.Entities {
		s.types[e.ID] = e
		s.byName[e.Name] = append(s.byName[e.Name], e)
	}
	return s
}

// intrinsic reports whether v is an intrinsic function call, whose value
// cannot be known before deployment and so matches any type.
func intrinsic(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// check validates v against typ, appending problems (with path) to errs.
func (s *cfnSpec) check(path string, v any, typ specType, errs *[]string) {
	if intrinsic(v) {
		return
	}
	bad := func(want string) { *errs = append(*errs, fmt.Sprintf("%s: want %s, got %T %v", path, want, v, v)) }
	switch typ.Type {
	case "string", "date-time":
		switch v.(type) {
		case string, int, float64, bool: // YAML scalars are all strings to CloudFormation
		default:
			bad("a string")
		}
	case "integer", "number":
		switch x := v.(type) {
		case int, float64:
		case string:
			var f float64
			if _, err := fmt.Sscan(x, &f); err != nil {
				bad("a number")
			}
		default:
			bad("a number")
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
		case string:
			if x != "true" && x != "false" {
				bad("a boolean")
			}
		default:
			bad("a boolean")
		}
	case "json":
		if v == nil {
			bad("a JSON value")
		}
	case "tag":
		m, ok := v.(map[string]any)
		if !ok {
			bad("a tag {Key, Value}")
			return
		}
		for k := range m {
			if k != "Key" && k != "Value" {
				*errs = append(*errs, fmt.Sprintf("%s: unknown tag field %s", path, k))
			}
		}
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			bad("a map")
			return
		}
		for k, x := range m {
			s.check(path+"."+k, x, *typ.Element, errs)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("a list")
			return
		}
		for i, x := range a {
			s.check(fmt.Sprintf("%s[%d]", path, i), x, *typ.Element, errs)
		}
	case "ref":
		def := s.types[typ.Reference.ID]
		m, ok := v.(map[string]any)
		if !ok {
			bad("an object of type " + def.Name)
			return
		}
		s.checkObject(path, m, def.Properties, errs)
	case "union":
		var firstErrs []string
		for i, alt := range typ.Types {
			var e []string
			s.check(path, v, alt, &e)
			if len(e) == 0 {
				return
			}
			if i == 0 {
				firstErrs = e
			}
		}
		*errs = append(*errs, fmt.Sprintf("%s: matches none of %d alternatives (first: %s)", path, len(typ.Types), strings.Join(firstErrs, "; ")))
	default:
		*errs = append(*errs, fmt.Sprintf("%s: unknown spec type %q", path, typ.Type))
	}
}

// checkObject validates an object's properties: every key known, every
// required key present, every value of its type.
func (s *cfnSpec) checkObject(path string, m map[string]any, props map[string]specProperty, errs *[]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := props[k]
		if !ok {
			*errs = append(*errs, fmt.Sprintf("%s.%s: not a property in the specification", path, k))
			continue
		}
		s.check(path+"."+k, m[k], p.Type, errs)
	}
	for name, p := range props {
		if _, ok := m[name]; p.Required && !ok {
			*errs = append(*errs, fmt.Sprintf("%s: required property %s is missing", path, name))
		}
	}
}
