package flowspec

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// sameTree says how two node trees differ, ignoring comments (the block
// reader skips them; the loader never reads them).
func sameTree(a, b *yaml.Node, path string) string {
	if a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value || a.Line != b.Line || a.Column != b.Column ||
		a.Anchor != b.Anchor || (a.Alias == nil) != (b.Alias == nil) || len(a.Content) != len(b.Content) {
		return fmt.Sprintf("%s: yaml.v3 {kind %d style %d tag %s %q @%d:%d, %d children} block {kind %d style %d tag %s %q @%d:%d, %d children}",
			path, a.Kind, a.Style, a.Tag, a.Value, a.Line, a.Column, len(a.Content), b.Kind, b.Style, b.Tag, b.Value, b.Line, b.Column, len(b.Content))
	}
	for i := range a.Content {
		if d := sameTree(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// checkBlockYAML fails when the block reader answers differently from
// yaml.v3; it says whether the block reader answered.
func checkBlockYAML(t *testing.T, name string, data []byte) bool {
	t.Helper()
	got, ok := parseBlockYAML(data)
	checkDeferred(t, name, data, got)
	if !ok {
		return false
	}
	var want yaml.Node
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Errorf("%s: yaml.v3 refuses what the block reader read: %v", name, err)
		return true
	}
	if d := sameTree(&want, got, name); d != "" {
		t.Errorf("%s", d)
	}
	return true
}

func TestBlockYAMLMatchesYAMLv3(t *testing.T) {
	cases := lazyCases(t)
	files, _ := filepath.Glob("../testdata/flowspec/errors/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = data
	}
	for name, src := range map[string]string{
		"null value":       "a:\nb: 1\n",
		"null at the end":  "a: 1\nb:\n",
		"null then blank":  "a:\n\nb: 1\n",
		"comments":         "# head\nname: x # line\n\n# between\nsteps:\n  # inside\n  a: {kind: checkpoint, value: '1'}\n",
		"seq same indent":  "needs:\n- a\n- b\nx: y\n",
		"seq of maps":      "m:\n  - role: user\n    content: hi\n  - role: system\n    content: \"yo\"\n",
		"literal strip":    "p: |-\n  a\n\n   b\n\n\nq: 1\n",
		"literal at end":   "p: |\n  a\n  b",
		"literal hash":     "p: |\n  # not a comment\n  x\n",
		"numbers":          "a: 0\nb: 42\nc: 0.5\nd: 90s\ne: 1h30m\nf: 07\ng: 1e3\nh: 2001-01-01\ni: 500ms\n",
		"words":            "a: yes\nb: True\nc: null\nd: true\ne: ~\nf: On\n",
		"unicode":          "a: héllo wörld\nb: [é, ü]\nc: 'ça: va'\n",
		"flow":             "i: {type: string, default: go}\nj: []\nk: {}\nl: [a, 'b c', \"d\"]\n",
		"expressions":      "v: ${{ steps.a.output + 1 }}\nw: steps.a.status == \"completed\"\nx: '${{ {\"a\": 1} }}'\n",
		"plain with colon": "a: b: c\n",
		"continued plain":  "a: one\n  two\n",
		"deeper":           "a:\n    b:\n        c: 1\n    d: 2\n",
		"seq item flow":    "a:\n- [x, y]\n- 'q'\n",
		"trailing spaces":  "a: b   \nc: d\n",
		"key with dash":    "my-step: 1\n_x: 2\n",
		"dollar and slash": "a: $HOME\nb: /tmp/x\n",
	} {
		cases[name] = []byte(src)
	}
	answered := 0
	for name, data := range cases {
		if checkBlockYAML(t, name, data) {
			answered++
			t.Logf("answered %s", name)
		}
	}
	for _, name := range []string{"chain", "big", "../examples/fan_out.yaml", "../examples/llm_writer.yaml", "../examples/wait_and_resume.yaml", "../examples/replay_with_overrides.yaml"} {
		if _, ok := parseBlockYAML(cases[name]); !ok {
			t.Errorf("the block reader declines the %s flow", name)
		}
	}
	t.Logf("the block reader answered %d of %d documents", answered, len(cases))
}

func FuzzBlockYAML(f *testing.F) {
	for _, s := range []string{
		"name: x\nsteps:\n  a:\n    kind: checkpoint\n    value: ${{ 1 }}\n",
		"a:\n- b\n- c: d\n  e: |\n    x\n\n    y\n",
		"i: {type: string, default: go}\nl: [a, 'b''c', \"d\"]\n# c\nn:\n",
		"a: 1.5\nb: 90s\nc: true\nd: |-\n  z\n",
		string(chainSource(3)), string(bigFlow(12)),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 || strings.Contains(string(data), "\x00") {
			return
		}
		checkBlockYAML(t, "fuzz", data)
	})
}

// TestBlockYAMLRandomDocuments compares the block reader with yaml.v3 on
// generated documents in and near the subset it reads: nested mappings and
// sequences, every kind of scalar, comments, blank lines, and lines
// disturbed at random.
func TestBlockYAMLRandomDocuments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	scalars := []string{"go", "s1", "${{ steps.a.output }}", "a b", "'q''s'", `"dq"`, `"a\"b"`, "42", "0", "0.5", "1.5e3", "90s", "0s",
		"1h30m", "007", "true", "False", "yes", "null", "~", "é", "$HOME", "/tmp", "x: y", "a #c", "a#b", "[a, b]", "[]", "{k: v}", "{}",
		"{k: [a]}", "[a, ]", "-1", "&x a", "*x", "!t a", ">", "|", "|-", "|+", "'unclosed", "http://x", "a,b", "[a,b]", "{a: 1, b: 'c'}", "{a: [b, c], d: {e: f}}", "[[a], {b: c}]", "[a, [b, [c]]]", "{a: http://x}", "[a:b, c]"}
	keys := []string{"a", "b", "kind", "my-step", "_x", "1", "true", "y", "é", "x y", "\"q\"", "steps"}
	allScalars, allKeys := scalars, keys
	safeScalars := []string{"{t: s, e: [a, b]}", "[[a], {b: c}]", "go", "s1", "${{ steps.a.output }}", "a b", "'q''s'", `"dq"`, "42", "0.5", "90s", "a#b", "[a, b]", "{a: 1, b: 'c'}", "|", "|-", "$HOME", "[]"}
	safeKeys := []string{"a", "b", "kind", "my-step", "_x", "steps"}
	var gen func(b *strings.Builder, indent, depth int)
	gen = func(b *strings.Builder, indent, depth int) {
		pad := strings.Repeat(" ", indent)
		for range 1 + rng.IntN(3) {
			switch rng.IntN(8) {
			case 0:
				b.WriteString(pad + "# note\n")
			case 1:
				b.WriteString("\n")
			}
			k := keys[rng.IntN(len(keys))]
			switch r := rng.IntN(6); {
			case r < 3 || depth > 2:
				v := scalars[rng.IntN(len(scalars))]
				fmt.Fprintf(b, "%s%s: %s\n", pad, k, v)
				if strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
					for range rng.IntN(3) + 1 {
						if rng.IntN(4) == 0 {
							b.WriteString("\n")
						}
						fmt.Fprintf(b, "%s%s%s\n", pad, strings.Repeat(" ", 2+rng.IntN(2)), scalars[rng.IntN(len(scalars))])
					}
				}
			case r == 3:
				fmt.Fprintf(b, "%s%s:\n", pad, k)
				gen(b, indent+2+rng.IntN(2), depth+1)
			case r == 4:
				fmt.Fprintf(b, "%s%s:\n", pad, k)
				in := indent + rng.IntN(3)
				for range 1 + rng.IntN(3) {
					if rng.IntN(2) == 0 {
						fmt.Fprintf(b, "%s- %s\n", strings.Repeat(" ", in), scalars[rng.IntN(len(scalars))])
					} else {
						fmt.Fprintf(b, "%s- %s: %s\n", strings.Repeat(" ", in), keys[rng.IntN(len(keys))], scalars[rng.IntN(len(scalars))])
						fmt.Fprintf(b, "%s  %s: %s\n", strings.Repeat(" ", in), keys[rng.IntN(len(keys))], scalars[rng.IntN(len(scalars))])
					}
				}
			default:
				fmt.Fprintf(b, "%s%s:\n", pad, k)
			}
		}
	}
	answered := 0
	for i := range 20000 {
		scalars, keys = allScalars, allKeys
		if i%2 == 0 {
			scalars, keys = safeScalars, safeKeys
		}
		var b strings.Builder
		gen(&b, 0, 0)
		data := []byte(b.String())
		if i%3 == 0 && len(data) > 2 {
			// Disturb one place: a space, a character or a line break.
			at := rng.IntN(len(data) - 1)
			ins := []string{" ", "\n", ":", "-", "#", "'", "\"", "|", "  ", "\t"}[rng.IntN(10)]
			data = append(data[:at:at], append([]byte(ins), data[at:]...)...)
		}
		if checkBlockYAML(t, fmt.Sprintf("doc %d:\n%s", i, data), data) {
			answered++
		}
		if t.Failed() {
			return
		}
	}
	if answered < 5000 {
		t.Errorf("the block reader answered only %d of 20000 documents: the test tests little", answered)
	}
	t.Logf("answered %d", answered)
}

// TestSecondDocumentFound: whichever way the YAML is read, a second
// document is reported.
func TestSecondDocumentFound(t *testing.T) {
	for _, src := range []string{
		"name: x\nsteps:\n  a: {kind: checkpoint, value: '1'}\n---\nname: y\n",
		"name: x\r\nsteps:\r\n  a: {kind: checkpoint, value: '1'}\r\n---\r\nname: y\r\n",
		"name: x\rsteps:\r  a: {kind: checkpoint, value: '1'}\r---\rname: y\r",
		"name: x\nsteps:\n  a: {kind: checkpoint, value: '1'}\n...\n---\nname: y\n",
	} {
		for _, lazy := range []bool{false, true} {
			_, err := Parse("x.yaml", []byte(src), Options{Lazy: lazy})
			if err == nil || !strings.Contains(err.Error(), "a flow file holds one YAML document") {
				t.Errorf("lazy %v, %q: got %v", lazy, src, err)
			}
		}
	}
}

// checkDeferred reads data leaving the steps' bodies for later (as a lazy
// load does), then reads every body: what it reads is whole the tree want
// the block reader made at once (nil when it gave up; then some body must
// not read either).
func checkDeferred(t *testing.T, name string, data []byte, want *yaml.Node) {
	t.Helper()
	doc, p, ok := parseBlock(data, false, true)
	if !ok {
		if want != nil {
			t.Errorf("%s: the block reader gave up only when it deferred bodies", name)
		}
		return
	}
	failed := false
	var expand func(n *yaml.Node) *yaml.Node
	expand = func(n *yaml.Node) *yaml.Node {
		if p.isDeferred(n) {
			body, ok := p.body(n)
			if !ok {
				failed = true
				return n
			}
			n = copyTree(body) // the next body reuses its nodes
		}
		for i, c := range n.Content {
			n.Content[i] = expand(c)
		}
		return n
	}
	doc = expand(doc)
	switch {
	case want == nil && !failed:
		t.Errorf("%s: the block reader read with deferred bodies what it gives up on at once", name)
	case want != nil && failed:
		t.Errorf("%s: a deferred body does not read, though the whole file does", name)
	case want != nil:
		if d := sameTree(want, doc, name+" (deferred bodies)"); d != "" {
			t.Errorf("%s", d)
		}
	}
}

func copyTree(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = copyTree(k)
	}
	return &c
}
