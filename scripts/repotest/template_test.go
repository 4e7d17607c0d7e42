package repotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/supabridge/supabridge/shared/bundle"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// template is template.yaml with intrinsic short forms (!Ref, !Sub, ...)
// turned into their JSON forms ({"Ref": ...}, {"Fn::Sub": ...}).
type template struct {
	Parameters map[string]any
	Globals    map[string]map[string]any
	Resources  map[string]resource
	Outputs    map[string]any
}

type resource struct {
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string
}

func loadTemplate(t *testing.T) template {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	doc, err := toValue(n.Content[0])
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	m := doc.(map[string]any)
	var tmpl template
	tmpl.Parameters, _ = m["Parameters"].(map[string]any)
	tmpl.Outputs, _ = m["Outputs"].(map[string]any)
	tmpl.Globals = map[string]map[string]any{}
	if g, ok := m["Globals"].(map[string]any); ok {
		for k, v := range g {
			tmpl.Globals[k], _ = v.(map[string]any)
		}
	}
	tmpl.Resources = map[string]resource{}
	for id, v := range m["Resources"].(map[string]any) {
		r := v.(map[string]any)
		res := resource{Type: r["Type"].(string)}
		res.Properties, _ = r["Properties"].(map[string]any)
		res.Metadata, _ = r["Metadata"].(map[string]any)
		res.Condition, _ = r["Condition"].(string)
		for k := range r {
			switch k {
			case "Type", "Properties", "Metadata", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy":
			default:
				t.Errorf("resource %s: unknown resource attribute %s", id, k)
			}
		}
		tmpl.Resources[id] = res
	}
	return tmpl
}

var intrinsicTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition", "!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!If": "Fn::If",
	"!Not": "Fn::Not", "!Equals": "Fn::Equals", "!And": "Fn::And", "!Or": "Fn::Or", "!Join": "Fn::Join",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
	"!Cidr": "Fn::Cidr", "!ImportValue": "Fn::ImportValue", "!GetAZs": "Fn::GetAZs", "!Transform": "Fn::Transform",
}

func toValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %s", n.Content[i].Line, k)
			}
			x, err := toValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		v = m
	case yaml.SequenceNode:
		a := []any{}
		for _, c := range n.Content {
			x, err := toValue(c)
			if err != nil {
				return nil, err
			}
			a = append(a, x)
		}
		v = a
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			var i int
			if err := n.Decode(&i); err != nil {
				return nil, err
			}
			v = i
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, err
			}
			v = f
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, err
			}
			v = b
		default:
			v = n.Value
		}
	case yaml.AliasNode:
		return toValue(n.Alias)
	}
	if fn, ok := intrinsicTags[n.Tag]; ok {
		if fn == "Fn::GetAtt" {
			if s, ok := v.(string); ok {
				v = strings.SplitN(s, ".", 2)
			}
		}
		return map[string]any{fn: v}, nil
	} else if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	return v, nil
}

// samNewerThanSpec lists SAM properties that SAM accepts today but the
// specification's SAM entries (frozen when AWS stopped publishing SAM in the
// CloudFormation specification) do not describe. Each is checked another way
// where it can be.
var samNewerThanSpec = map[string]string{
	// The specification misspells HttpApi's access log property as
	// "AccessLogSetting"; SAM's documented property is AccessLogSettings.
	"AWS::Serverless::HttpApi.AccessLogSettings": "checked against AWS::ApiGatewayV2::Stage.AccessLogSettings",
	// Added to SAM with Lambda's advanced logging controls (2023).
	"AWS::Serverless::Function.LoggingConfig": "checked against AWS::Lambda::Function.LoggingConfig",
	// Partial batch responses for SQS event sources.
	"SQSEvent.FunctionResponseTypes": "checked against AWS::Lambda::EventSourceMapping.FunctionResponseTypes",
}

// samProperty finds the specification's type for a SAM property that is
// newer than SAM's entry, in the CloudFormation resource SAM generates.
func (s *cfnSpec) samProperty(key string) (specType, bool) {
	target := map[string][2]string{
		"AWS::Serverless::HttpApi.AccessLogSettings": {"AWS::ApiGatewayV2::Stage", "AccessLogSettings"},
		"AWS::Serverless::Function.LoggingConfig":    {"AWS::Lambda::Function", "LoggingConfig"},
		"SQSEvent.FunctionResponseTypes":             {"AWS::Lambda::EventSourceMapping", "FunctionResponseTypes"},
		"ScheduleV2.Target":                          {"AWS::Scheduler::Schedule", "Target"},
	}[key]
	r := s.resources[target[0]]
	if r == nil {
		return specType{}, false
	}
	p, ok := r.Properties[target[1]]
	return p.Type, ok
}

// checkSAMObject is checkObject plus the samNewerThanSpec exceptions.
func (s *cfnSpec) checkSAMObject(path, owner string, m map[string]any, props map[string]specProperty, errs *[]string) {
	known := map[string]any{}
	for k, v := range m {
		key := owner + "." + k
		if _, ok := props[k]; !ok {
			if _, newer := samNewerThanSpec[key]; newer {
				typ, ok := s.samProperty(key)
				if !ok {
					*errs = append(*errs, fmt.Sprintf("%s.%s: no CloudFormation property to check it against", path, k))
					continue
				}
				s.check(path+"."+k, v, typ, errs)
				continue
			}
		}
		known[k] = v
	}
	s.checkObject(path, known, props, errs)
}

// scheduleV2Only are ScheduleV2 properties that exist only in SAM (they
// shape the generated resources rather than a Scheduler property).
var scheduleV2Only = map[string]bool{"OmitName": true, "PermissionsBoundary": true}

// checkEvent validates a function's event source. SAM's entry in the
// specification predates ScheduleV2 (EventBridge Scheduler); its properties
// are checked against AWS::Scheduler::Schedule and its Target, which is what
// SAM generates from them.
func (s *cfnSpec) checkEvent(path string, ev map[string]any, errs *[]string) {
	typ, _ := ev["Type"].(string)
	props, _ := ev["Properties"].(map[string]any)
	for k := range ev {
		if k != "Type" && k != "Properties" {
			*errs = append(*errs, fmt.Sprintf("%s.%s: not an event source field", path, k))
		}
	}
	if typ == "ScheduleV2" {
		sched := s.resources["AWS::Scheduler::Schedule"].Properties
		targetType, _ := s.samProperty("ScheduleV2.Target")
		target := s.types[targetType.Reference.ID].Properties
		for k, v := range props {
			switch {
			case scheduleV2Only[k]:
			case sched[k].Type.Type != "":
				s.check(path+".Properties."+k, v, sched[k].Type, errs)
			case target[k].Type.Type != "":
				s.check(path+".Properties."+k, v, target[k].Type, errs)
			default:
				*errs = append(*errs, fmt.Sprintf("%s.Properties.%s: not a ScheduleV2 property", path, k))
			}
		}
		if props["ScheduleExpression"] == nil {
			*errs = append(*errs, path+": ScheduleV2 needs ScheduleExpression")
		}
		return
	}
	defs := s.byName[typ+"Event"]
	if len(defs) == 0 {
		*errs = append(*errs, fmt.Sprintf("%s: unknown event source type %q", path, typ))
		return
	}
	s.checkSAMObject(path+".Properties", typ+"Event", props, defs[0].Properties, errs)
}

// TestTemplateMatchesResourceSpecification checks every resource's
// properties against AWS's published resource specification.
func TestTemplateMatchesResourceSpecification(t *testing.T) {
	spec := loadSpec(t)
	tmpl := loadTemplate(t)
	if len(tmpl.Resources) == 0 {
		t.Fatal("template has no resources")
	}
	for id, r := range tmpl.Resources {
		def := spec.resources[r.Type]
		if def == nil {
			t.Errorf("%s: resource type %s is not in the specification", id, r.Type)
			continue
		}
		var errs []string
		props := r.Properties
		if r.Type == "AWS::Serverless::Function" {
			events, _ := props["Events"].(map[string]any)
			rest := map[string]any{}
			for k, v := range props {
				if k != "Events" {
					rest[k] = v
				}
			}
			// Globals.Function supplies the required properties.
			for k, v := range tmpl.Globals["Function"] {
				if _, ok := rest[k]; !ok {
					rest[k] = v
				}
			}
			props = rest
			for name, ev := range events {
				spec.checkEvent(id+".Events."+name, ev.(map[string]any), &errs)
			}
		}
		spec.checkSAMObject(id, r.Type, props, def.Properties, &errs)
		for _, e := range errs {
			t.Error(e)
		}
	}
	for kind, g := range tmpl.Globals {
		def := spec.resources["AWS::Serverless::"+kind]
		if def == nil {
			t.Errorf("Globals.%s: no such SAM resource type", kind)
			continue
		}
		var errs []string
		for k, v := range g {
			key := "AWS::Serverless::" + kind + "." + k
			if p, ok := def.Properties[k]; ok {
				spec.check("Globals."+kind+"."+k, v, p.Type, &errs)
			} else if typ, ok := spec.samProperty(key); ok {
				spec.check("Globals."+kind+"."+k, v, typ, &errs)
			} else {
				errs = append(errs, fmt.Sprintf("Globals.%s.%s: not a property of %s", kind, k, def.CFNType))
			}
		}
		for _, e := range errs {
			t.Error(e)
		}
	}
}

// logicalID is the template's logical ID for a function folder name:
// "accounts" → "AccountsFunction", "link-tokens" → "LinkTokensFunction".
func logicalID(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "-") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + "Function"
}

func templateFunctions(t *testing.T, tmpl template) map[string]resource {
	t.Helper()
	fns := map[string]resource{}
	for id, r := range tmpl.Resources {
		if r.Type == "AWS::Serverless::Function" {
			fns[id] = r
		}
	}
	return fns
}

// TestTemplateFunctionsMatchTheBundle: every folder in functions/ is one
// function in the template and in the bundle, with the same routes and
// schedule, and nothing else is.
func TestTemplateFunctionsMatchTheBundle(t *testing.T) {
	tmpl := loadTemplate(t)
	fns := templateFunctions(t, tmpl)
	dirs, err := os.ReadDir(filepath.Join(root(t), "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, d := range dirs {
		if d.IsDir() {
			folders = append(folders, d.Name())
		}
	}
	var bundled []string
	for _, f := range bundle.Functions() {
		bundled = append(bundled, f.Name)
	}
	sort.Strings(bundled)
	if !slices.Equal(folders, bundled) {
		t.Errorf("functions/ folders %v differ from bundle.Functions %v", folders, bundled)
	}
	var ids []string
	for _, name := range folders {
		ids = append(ids, logicalID(name))
	}
	var tmplIDs []string
	for id := range fns {
		tmplIDs = append(tmplIDs, id)
	}
	sort.Strings(ids)
	sort.Strings(tmplIDs)
	if !slices.Equal(ids, tmplIDs) {
		t.Errorf("template functions %v differ from functions/ folders %v", tmplIDs, ids)
	}

	for _, f := range bundle.Functions() {
		r, ok := fns[logicalID(f.Name)]
		if !ok {
			continue
		}
		if got, want := r.Properties["CodeUri"], "functions/"+f.Name+"/"; got != want {
			t.Errorf("%s: CodeUri = %v, want %s", f.Name, got, want)
		}
		if r.Metadata["BuildMethod"] != "go1.x" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want go1.x", f.Name, r.Metadata["BuildMethod"])
		}
		var tmplRoutes, schedules []string
		events, _ := r.Properties["Events"].(map[string]any)
		for name, v := range events {
			ev := v.(map[string]any)
			props, _ := ev["Properties"].(map[string]any)
			switch ev["Type"] {
			case "HttpApi":
				if ref, _ := props["ApiId"].(map[string]any); ref["Ref"] != "Api" {
					t.Errorf("%s event %s: ApiId = %v, want !Ref Api", f.Name, name, props["ApiId"])
				}
				route := props["Method"].(string) + " " + muxPath(props["Path"].(string))
				if props["Method"] == "ANY" {
					// API Gateway's ANY is a method-less ServeMux pattern.
					route = muxPath(props["Path"].(string))
				}
				tmplRoutes = append(tmplRoutes, route)
			case "ScheduleV2":
				schedules = append(schedules, name)
				if props["Input"] == nil || props["OmitName"] != true {
					t.Errorf("%s schedule %s: needs Input (Scheduler sends no payload otherwise) and OmitName: true (names collide across stacks)", f.Name, name)
				}
			}
		}
		var routes []string
		if f.Mount != nil {
			rt := httpapi.NewRouter()
			f.Mount(rt, routeApp(t))
			routes = rt.Patterns()
		}
		sort.Strings(tmplRoutes)
		if !slices.Equal(tmplRoutes, routes) {
			t.Errorf("%s: template routes %v differ from the router's %v", f.Name, tmplRoutes, routes)
		}
		if (f.Job != nil) != (len(schedules) > 0) {
			t.Errorf("%s: bundle schedules a job: %v; template schedules: %v", f.Name, f.Job != nil, schedules)
		}
	}
}

// muxPath turns an API Gateway path into a ServeMux pattern path:
// {proxy+} becomes {proxy...}.
func muxPath(p string) string {
	return regexp.MustCompile(`\{([A-Za-z0-9_]+)\+\}`).ReplaceAllString(p, "{$1...}")
}

// TestTemplateSecretsStayUnderThePrefix: no function may touch a secret
// outside the stack's prefix, and none may hold secretsmanager:* or *.
func TestTemplateSecretsStayUnderThePrefix(t *testing.T) {
	tmpl := loadTemplate(t)
	for id, r := range templateFunctions(t, tmpl) {
		policies, _ := r.Properties["Policies"].([]any)
		for _, p := range policies {
			pm, _ := p.(map[string]any)
			stmts, _ := pm["Statement"].([]any)
			for _, s := range stmts {
				st := s.(map[string]any)
				actions := fmt.Sprint(st["Action"])
				if !strings.Contains(actions, "secretsmanager:") {
					continue
				}
				if strings.Contains(actions, "secretsmanager:*") || st["Resource"] == "*" {
					t.Errorf("%s: secrets statement is not least privilege: %v on %v", id, actions, st["Resource"])
				}
				res := fmt.Sprint(st["Resource"])
				if !strings.Contains(res, ":secret:${SecretPrefix}") {
					t.Errorf("%s: secrets statement on %s, want only :secret:${SecretPrefix}*", id, res)
				}
			}
		}
	}
}

// TestFunctionsBuildForLambda builds every CodeUri as SAM does for
// provided.al2023 on arm64, with the flags the README's deploy uses.
func TestFunctionsBuildForLambda(t *testing.T) {
	tmpl := loadTemplate(t)
	out := t.TempDir()
	for id, r := range templateFunctions(t, tmpl) {
		dir := filepath.Join(root(t), fmt.Sprint(r.Properties["CodeUri"]))
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
			t.Errorf("%s: CodeUri %s has no main.go", id, dir)
			continue
		}
		cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", filepath.Join(out, id, "bootstrap"), ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: build failed: %v\n%s", id, err, b)
			continue
		}
		if fi, err := os.Stat(filepath.Join(out, id, "bootstrap")); err == nil {
			t.Logf("%s: linux/arm64 bootstrap %.1f MB", id, float64(fi.Size())/(1<<20))
		}
	}
}
