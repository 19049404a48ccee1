package flowspec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FlowStep is the body of a flow step: another flow file run as a child
// run.
type FlowStep struct {
	Path   string // as written in flow:, relative to the including file
	Flow   *Flow  // the sub-flow, loaded and checked with the parent
	Inputs []FlowInput
	// Content hashes the sub-flow's source and, in turn, its own
	// sub-flows': what a replay compares to decide whether it changed.
	Content string
}

// FlowInput is one input given to a sub-flow.
type FlowInput struct {
	Name  string
	Value *Template
}

// MaxSubFlowDepth bounds how deep sub-flows nest: a chain longer than this
// is a mistake (a cycle through paths that name one file in two ways).
const MaxSubFlowDepth = 16

// subLoad is where a flow being loaded sits among sub-flows.
type subLoad struct {
	base  string   // the directory of the top flow's file: keys are under it
	dir   string   // this flow's directory, as a key ("." for the top's)
	chain []string // the keys of the flows from the top to this one
}

// subKey is the key of the sub-flow at rel written in the flow whose
// directory (as a key) is dir: a slash path under the top flow's
// directory, or an absolute one.
func subKey(dir, rel string) string {
	if filepath.IsAbs(rel) {
		return filepath.ToSlash(filepath.Clean(rel))
	}
	return path.Join(dir, filepath.ToSlash(rel))
}

func (c *stepCtx) flowStep() {
	l, s, fs := c.l, c.s, c.fs
	b := &FlowStep{}
	s.Sub = b
	if p, ok := fs.get("flow"); ok {
		b.Path = l.scalar(p.val, "flow")
		if b.Path == "" {
			l.e.add(pos(p.val), "step %q: flow is empty; give the path of the flow file to run, relative to this file", s.ID)
		} else {
			b.Flow, b.Content = l.subFlow("step "+strconv.Quote(s.ID), resolve(p.val), b.Path)
		}
	} else if !c.typos["flow"] {
		l.e.add(pos(c.n), "flow step %q needs flow: (the path of the flow file to run, relative to this one)", s.ID)
	}
	var given map[string]bool
	if p, ok := fs.get("inputs"); ok {
		b.Inputs, given = c.flowInputs(p.val, b.Flow)
	}
	if b.Flow != nil {
		var missing []string
		for _, in := range b.Flow.Inputs {
			if !in.HasDefault && !given[in.Name] {
				missing = append(missing, in.Name)
			}
		}
		if len(missing) > 0 {
			l.e.add(pos(c.n), "step %q: the sub-flow %s needs input %s; give it under inputs:", s.ID, b.Path, strings.Join(missing, ", "))
		}
	}
	if s.OutputJSON {
		l.e.add(pos(fs.field("output").key), "step %q: output: json only goes with llm steps and run: steps (a sub-flow's output is already data)", s.ID)
	}
}

// flowInputs reads a flow step's inputs: a mapping of the sub-flow's
// input names to templates or YAML data; sub, when loaded, says which
// names it declares.
func (c *stepCtx) flowInputs(n *yaml.Node, sub *Flow) ([]FlowInput, map[string]bool) {
	l, s := c.l, c.s
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.e.add(pos(n), "step %q: inputs must be a mapping of the sub-flow's input names to values, not %s", s.ID, nodeKind(n))
		return nil, nil
	}
	var names []string
	if sub != nil {
		for _, in := range sub.Inputs {
			names = append(names, in.Name)
		}
	}
	var out []FlowInput
	given := map[string]bool{}
	for _, p := range l.pairs(n, "input") {
		name := p.key.Value
		if sub != nil && !slices.Contains(names, name) {
			has := "no inputs"
			if len(names) > 0 {
				has = "inputs " + strings.Join(names, ", ")
			}
			l.e.add(pos(p.key), "step %q: the sub-flow %s declares no input %q (it has %s)", s.ID, s.Sub.Path, name, has)
			continue
		}
		given[name] = true
		t := l.value(s, p.val, c.inForeach)
		c.parts.other = append(c.parts.other, t)
		out = append(out, FlowInput{Name: name, Value: t})
	}
	return out, given
}

// subFlow loads the sub-flow at rel (from the run's record when the
// options hold the sources), with its own sub-flows, and hashes its
// content. Its problems are reported under its own file's name.
func (l *loader) subFlow(owner string, n *yaml.Node, rel string) (*Flow, string) {
	sub := l.opts.sub
	key := subKey(sub.dir, rel)
	if i := slices.Index(sub.chain, key); i >= 0 {
		l.e.add(pos(n), "%s: the sub-flow %s includes itself: %s; sub-flows cannot form a cycle", owner, rel, strings.Join(append(slices.Clone(sub.chain[i:]), key), " -> "))
		return nil, ""
	}
	if len(sub.chain) > MaxSubFlowDepth {
		l.e.add(pos(n), "%s: sub-flows nest more than %d deep here (%s); is it a cycle?", owner, MaxSubFlowDepth, strings.Join(sub.chain, " -> "))
		return nil, ""
	}
	name := filepath.FromSlash(key)
	if !filepath.IsAbs(name) {
		name = filepath.Join(sub.base, name)
	}
	var data []byte
	if l.opts.SubFlows != nil {
		var ok bool
		if data, ok = l.opts.SubFlows[key]; !ok {
			l.e.add(pos(n), "%s: the run's record holds no copy of the sub-flow %s", owner, rel)
			return nil, ""
		}
	} else {
		var err error
		if data, err = readFlowFile(name); err != nil {
			var el *ErrorList
			if errors.As(err, &el) {
				l.e.list = append(l.e.list, *el...)
			}
			l.e.add(pos(n), "%s: the sub-flow %s cannot be read (%v); check the path, which is relative to this file", owner, rel, err)
			return nil, ""
		}
	}
	opts := l.opts
	opts.sub = subLoad{base: sub.base, dir: path.Dir(key), chain: append(slices.Clone(sub.chain), key)}
	f, err := Parse(name, data, opts)
	if err != nil {
		l.e.add(pos(n), "%s: the sub-flow %s does not load; fix the problems named after this one", owner, rel)
		var el *ErrorList
		if errors.As(err, &el) {
			l.e.list = append(l.e.list, *el...)
		}
		return nil, ""
	}
	if l.opts.SubFlows == nil {
		f.Dir = fileDir(name)
	}
	return f, contentOf(f)
}

// contentOf hashes a flow's source and its sub-flows' content.
func contentOf(f *Flow) string {
	h := sha256.New()
	h.Write(f.Source)
	for _, s := range f.Steps {
		if s.Sub != nil {
			h.Write([]byte{0})
			h.Write([]byte(s.Sub.Content))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SubFlows are the sources of every sub-flow the flow runs, nested ones
// too, by their path relative to the flow's own file (slash-separated):
// what Options.SubFlows takes back. nil when it runs none.
func (f *Flow) SubFlows() map[string][]byte {
	var out map[string][]byte
	var walk func(f *Flow, dir string)
	walk = func(f *Flow, dir string) {
		for _, s := range f.Steps {
			if s.Sub == nil || s.Sub.Flow == nil {
				continue
			}
			if out == nil {
				out = map[string][]byte{}
			}
			k := subKey(dir, s.Sub.Path)
			out[k] = s.Sub.Flow.Source
			walk(s.Sub.Flow, path.Dir(k))
		}
	}
	walk(f, ".")
	return out
}

// rootSub is where the top flow, in file, sits.
func rootSub(file string) subLoad {
	return subLoad{base: filepath.Dir(file), dir: ".", chain: []string{path.Base(filepath.ToSlash(file))}}
}

// flowTool loads a flow: tool's sub-flow; nil when it does not load.
func (l *loader) flowTool(owner string, n *yaml.Node) *FlowStep {
	b := &FlowStep{Path: l.scalar(n, "flow")}
	if b.Path == "" {
		l.e.add(pos(resolve(n)), "%s: flow is empty; give the path of the flow file to run, relative to this file", owner)
		return nil
	}
	if b.Flow, b.Content = l.subFlow(owner, resolve(n), b.Path); b.Flow == nil {
		return nil
	}
	return b
}

// inputsSchema is the JSON Schema of a flow's inputs, the parameters of a
// flow: tool that declares none.
func inputsSchema(f *Flow) map[string]any {
	props := map[string]any{}
	var required []any
	for _, in := range f.Inputs {
		p := map[string]any{}
		switch in.Type {
		case "list":
			p["type"] = "array"
		case "":
		default:
			p["type"] = in.Type
		}
		if in.Description != "" {
			p["description"] = in.Description
		}
		props[in.Name] = p
		if !in.HasDefault {
			required = append(required, in.Name)
		}
	}
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}
