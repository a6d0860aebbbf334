package templatecheck

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	repoRoot     = "../.."
	templatePath = repoRoot + "/template.yaml"
)

// tmpl is the parsed template with quick access to its top-level sections.
type tmpl struct {
	root       *yaml.Node // the top-level mapping
	params     *yaml.Node
	resources  *yaml.Node
	mappings   *yaml.Node
	conditions *yaml.Node
}

func loadTemplate(t *testing.T) *tmpl {
	t.Helper()
	file := templatePath
	if f := os.Getenv("TEMPLATECHECK_FILE"); f != "" {
		file = f // for checking that the checks catch a mutated template
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("%s: top level is not a mapping", file)
	}
	root := doc.Content[0]
	tp := &tmpl{
		root:       root,
		params:     get(root, "Parameters"),
		resources:  get(root, "Resources"),
		mappings:   get(root, "Mappings"),
		conditions: get(root, "Conditions"),
	}
	if tp.resources == nil {
		t.Fatal("template has no Resources")
	}
	return tp
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// path follows keys through nested mappings.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = get(n, k)
		if n == nil {
			return nil
		}
	}
	return n
}

// entries lists the key/value pairs of a mapping in order.
func entries(n *yaml.Node) [][2]*yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out
}

// items returns the elements of a sequence, or the node itself for a single value.
func items(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode && n.Tag == "!!seq" {
		return n.Content
	}
	return []*yaml.Node{n}
}

// scalar returns the value of a plain scalar ("" for anything else).
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return ""
	}
	return n.Value
}

// isTrue reports whether n is the boolean true (true or "true").
func isTrue(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && strings.EqualFold(n.Value, "true")
}

// refTarget returns X for !Ref X or {Ref: X}.
func refTarget(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	if n.Tag == "!Ref" && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	if v := get(n, "Ref"); v != nil && len(n.Content) == 2 {
		return v.Value
	}
	return ""
}

// getAtt returns (X, Attr) for !GetAtt X.Attr, !GetAtt [X, Attr] or {Fn::GetAtt: ...}.
func getAtt(n *yaml.Node) (string, string) {
	if n == nil {
		return "", ""
	}
	var v *yaml.Node
	switch {
	case n.Tag == "!GetAtt":
		v = n
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "Fn::GetAtt":
		v = n.Content[1]
	default:
		return "", ""
	}
	if v.Kind == yaml.ScalarNode {
		res, attr, _ := strings.Cut(v.Value, ".")
		return res, attr
	}
	if v.Kind == yaml.SequenceNode && len(v.Content) == 2 {
		return v.Content[0].Value, v.Content[1].Value
	}
	return "", ""
}

// subString returns the template string of !Sub / Fn::Sub (either form) and
// the names of its local variables.
func subString(n *yaml.Node) (string, map[string]bool, bool) {
	if n == nil {
		return "", nil, false
	}
	var v *yaml.Node
	switch {
	case n.Tag == "!Sub":
		v = n
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "Fn::Sub":
		v = n.Content[1]
	default:
		return "", nil, false
	}
	if v.Kind == yaml.ScalarNode {
		return v.Value, nil, true
	}
	if v.Kind == yaml.SequenceNode && len(v.Content) >= 1 {
		locals := map[string]bool{}
		if len(v.Content) == 2 {
			for _, kv := range entries(v.Content[1]) {
				locals[kv[0].Value] = true
			}
		}
		return v.Content[0].Value, locals, true
	}
	return "", nil, false
}

// subVars returns the ${...} names in a Sub string, skipping ${!Literal}.
func subVars(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		s = s[i+2:]
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return out
		}
		name := s[:j]
		s = s[j+1:]
		if strings.HasPrefix(name, "!") {
			continue
		}
		out = append(out, strings.TrimSpace(name))
	}
}

// walk calls fn for every node below n (n included), depth first.
func walk(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for _, c := range n.Content {
		walk(c, fn)
	}
}

// resourcesOfType lists the logical ids and properties of resources of a type.
func (tp *tmpl) resourcesOfType(typ string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for _, kv := range entries(tp.resources) {
		if scalar(get(kv[1], "Type")) == typ {
			out[kv[0].Value] = kv[1]
		}
	}
	return out
}

func (tp *tmpl) resource(id string) *yaml.Node { return get(tp.resources, id) }

func (tp *tmpl) resourceType(id string) string { return scalar(get(tp.resource(id), "Type")) }

func (tp *tmpl) isParam(name string) bool { return get(tp.params, name) != nil }
