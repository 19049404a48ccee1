package flowspec

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const toolsFlow = `name: agent
inputs:
  unit: {default: people}
tools:
  lookup:
    description: Population of a city.
    parameters:
      type: object
      properties: {city: {type: string}}
      required: [city]
    run: ./population.sh "${{ args.city }}" ${{ inputs.unit }}
    env: {CITY: "${{ args.city }}"}
  add:
    parameters: {type: object, properties: {a: {type: number}, b: {type: number}}, required: [a, b]}
    value: ${{ args.a + args.b }}
steps:
  research:
    kind: llm
    prompt: How many people live in Paris and Rome together?
    tools: [lookup, add]
    max_turns: 8
  plain:
    kind: llm
    prompt: hi
    tools: [add]
`

func TestToolsCompile(t *testing.T) {
	t.Parallel()
	for _, lazy := range []bool{false, true} {
		f, err := Parse("t.yaml", []byte(toolsFlow), Options{Lazy: lazy})
		if err != nil {
			t.Fatal(err)
		}
		r := f.byID["research"].LLM
		if len(r.Tools) != 2 || r.Tools[0].Name != "lookup" || r.MaxTurns != 8 {
			t.Fatalf("lazy=%v: tools %v, max_turns %d", lazy, r.Tools, r.MaxTurns)
		}
		if got := f.byID["plain"].LLM.MaxTurns; got != DefaultMaxTurns {
			t.Errorf("default max_turns = %d", got)
		}
		// What a tool reads counts for the steps that offer it.
		if got := f.byID["research"].InputRefs; len(got) != 1 || got[0] != "unit" {
			t.Errorf("research reads inputs %v, want [unit] (through its tool)", got)
		}
		lookup := f.Tool("lookup")
		sc := &Scope{Inputs: map[string]any{"unit": "people"}, Args: map[string]any{"city": "Paris; rm -rf /"}}
		script, env, err := lookup.Run.Shell(sc)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(script, "Paris") || !strings.Contains(strings.Join(env, "\n"), "=Paris; rm -rf /") {
			t.Errorf("args reached sh as text: %q %q", script, env)
		}
		v, err := f.Tool("add").Value.Eval(&Scope{Args: map[string]any{"a": 2.0, "b": 3.0}})
		if err != nil || v != 5.0 {
			t.Errorf("add = %v, %v", v, err)
		}
		if err := lookup.CheckArgs(map[string]any{"city": "Rome"}); err != nil {
			t.Errorf("valid args refused: %v", err)
		}
		err = lookup.CheckArgs(map[string]any{"town": "Rome"})
		if err == nil || !strings.Contains(err.Error(), "city") {
			t.Errorf("missing city = %v", err)
		}
	}
}

func TestToolErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tools, step, want string
	}{
		{"array parameters", "t: {parameters: {type: array}, value: 1}", "tools: [t]", "3:19: tool \"t\": parameters must describe an object"},
		{"bad schema", "t: {parameters: {type: object, required: 3}, value: 1}", "tools: [t]", "tool \"t\": parameters is not a valid JSON Schema"},
		{"steps in a tool", "t: {value: '${{ steps.s.output }}'}", "tools: [t]", "a tool cannot read steps"},
		{"item in a tool", "t: {run: 'echo ${{ item }}'}", "tools: [t]", "item is not defined in a tool"},
		{"args in a step", "t: {value: 1}", "tools: [t]\n    system: '${{ args.x }}'", "7:18: step \"s\" system: args is only defined in a tool"},
		{"wait tool with run", "t: {kind: wait, question: q, run: echo}", "tools: [t]", "3:32: tool \"t\": run does not go with kind: wait"},
		{"wait tool without question", "t: {kind: wait}", "tools: [t]", "a kind: wait tool needs a question:"},
		{"question without kind", "t: {value: 1, question: q}", "tools: [t]", "question goes with kind: wait"},
		{"timeout without kind", "t: {value: 1, timeout: 1m}", "tools: [t]", "timeout goes with kind: wait"},
		{"wait tool bad kind", "t: {kind: ask, question: q}", "tools: [t]", "kind must be wait, not \"ask\""},
		{"wait tool bad schema", "t: {kind: wait, question: q, schema: 3}", "tools: [t]", "schema must be a JSON Schema mapping"},
		{"wait tool bad timeout", "t: {kind: wait, question: q, timeout: 5}", "tools: [t]", "timeout \"5\" has no unit"},
		{"wait tool cached", "t: {kind: wait, question: q}", "tools: [t]\n    cache: true", "cache does not go with tool \"t\", kind: wait"},
		{"flow tool without its file", "t: {flow: x.yaml}", "tools: [t]", `tool "t": the sub-flow x.yaml cannot be read`},
		{"flow tool with run", "t: {flow: ../examples/summarise.yaml, run: echo}", "tools: [t]", `tool "t": run does not go with flow:`},
		{"no body", "t: {description: d}", "tools: [t]", "tool \"t\" needs run: (a shell command), value: (an expression over args) or flow:"},
		{"both", "t: {run: echo, value: 1}", "tools: [t]", "has both run and value"},
		{"env without run", "t: {value: 1, env: {A: b}}", "tools: [t]", "env only goes with run:"},
		{"bad name", "a.b: {value: 1}", "tools: [a.b]", "a tool's name may hold only letters"},
		{"unknown tool", "look: {value: 1}", "tools: [lookup]", "6:13: step \"s\": unknown tool \"lookup\"; did you mean \"look\"?"},
		{"unquoted shell", "t: {run: \"echo '${{ args.x }}'\"}", "tools: [t]", "inside single quotes"},
		{"max_turns alone", "t: {value: 1}", "max_turns: 3", "max_turns only goes with tools:"},
		{"max_turns zero", "t: {value: 1}", "tools: [t]\n    max_turns: 0", "max_turns must be a whole number from 1 to 10000"},
		{"max_turns over the limit", "t: {value: 1}", "tools: [t]\n    max_turns: 100000000", "max_turns must be a whole number from 1 to 10000"},
		{"tools not a list", "t: {value: 1}", "tools: t", "tools must be a list of tool names"},
		{"unknown arg in run", "t: {parameters: {properties: {city: {type: string}, units: {}}}, run: 'echo \"${{ args.cty }}\"'}", "tools: [t]",
			`3:89: tool "t" run: unknown parameter "cty"; the parameters of tool "t" are city, units; did you mean "city"?`},
		{"unknown arg in env", "t: {parameters: {properties: {city: {}}}, run: echo, env: {C: '${{ args.town }}'}}", "tools: [t]", `tool "t" env C: unknown parameter "town"; the parameters of tool "t" are city (add it under parameters.properties`},
		{"unknown arg by index", "t: {parameters: {properties: {city: {}}}, value: '${{ args[\"town\"] }}'}", "tools: [t]", `tool "t" value: unknown parameter "town"`},
		{"unknown arg in a question", "t: {kind: wait, parameters: {properties: {question: {type: string}}}, question: '${{ args.qestion }}'}", "tools: [t]",
			`tool "t" question: unknown parameter "qestion"; the parameters of tool "t" are question; did you mean "question"?`},
		{"unknown arg, closed", "t: {parameters: {properties: {city: {}}, additionalProperties: false}, value: '${{ args.town }}'}", "tools: [t]", `unknown parameter "town"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "name: f\ntools:\n  " + tt.tools + "\nsteps:\n  s:\n    " + tt.step + "\n    kind: llm\n    prompt: hi\n"
			if !strings.HasPrefix(tt.step, "tools") && !strings.HasPrefix(tt.step, "max") {
				t.Fatal("bad case")
			}
			_, err := Parse("f.yaml", []byte(src), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v\nwant %q in it; flow:\n%s", err, tt.want, src)
			}
		})
	}
}

// args.X is checked against the parameters only when they list every
// name the arguments may have.
func TestToolArgsOpenParameters(t *testing.T) {
	t.Parallel()
	for _, params := range []string{
		"",
		"parameters: {type: object},",
		"parameters: {properties: {city: {}}, additionalProperties: true},",
		"parameters: {properties: {city: {}}, additionalProperties: {type: string}},",
		"parameters: {properties: {city: {}}, anyOf: [{properties: {town: {}}}]},",
		"parameters: {properties: {city: {}}, patternProperties: {'^t': {}}},",
	} {
		src := "name: f\ntools:\n  t: {" + params + " value: '${{ args.town }}'}\nsteps:\n  s: {kind: llm, prompt: hi, tools: [t]}\n"
		if _, err := Parse("f.yaml", []byte(src), Options{}); err != nil {
			t.Errorf("%s: %v", params, err)
		}
	}
	// A lazy load checks the same when the template is first evaluated.
	src := "name: f\ntools:\n  t: {parameters: {properties: {city: {}}}, value: '${{ args.town }}'}\nsteps:\n  s: {kind: llm, prompt: hi, tools: [t]}\n"
	f, err := Parse("f.yaml", []byte(src), Options{Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tool("t").Value.Eval(&Scope{Args: map[string]any{}}); err == nil || !strings.Contains(err.Error(), `unknown parameter "town"`) {
		t.Errorf("lazy eval = %v", err)
	}
}

func TestToolsFingerprint(t *testing.T) {
	t.Parallel()
	base := mustParse(t, toolsFlow).byID["research"].Fingerprint()
	changes := map[string][2]string{
		"tool command":     {`./population.sh "${{ args.city }}"`, `./population2.sh "${{ args.city }}"`},
		"tool description": {"Population of a city.", "Population of a town."},
		"tool parameters":  {"required: [city]", "required: []"},
		"max_turns":        {"max_turns: 8", "max_turns: 9"},
		"tool list":        {"tools: [lookup, add]", "tools: [lookup]"},
	}
	for name, c := range changes {
		src := strings.Replace(toolsFlow, c[0], c[1], 1)
		if src == toolsFlow {
			t.Fatalf("%s: nothing replaced", name)
		}
		if got := mustParse(t, src).byID["research"].Fingerprint(); got == base {
			t.Errorf("changing the %s left the fingerprint as it was", name)
		}
	}
	// A doc without tools keeps the quick encoder's bytes.
	d := fingerprintDocOf(mustParse(t, toolsFlow).byID["research"])
	raw, _ := json.Marshal(d)
	if !strings.Contains(string(raw), `"tools":[{"name":"lookup"`) {
		t.Errorf("fingerprint doc %s", raw)
	}
}

// A cache key takes the tools' digest: it changes with what a tool does,
// and is empty for a step offering none.
func TestToolsDigest(t *testing.T) {
	t.Parallel()
	tools := func(src string) []*Tool { return mustParse(t, src).byID["research"].LLM.Tools }
	base := ToolsDigest(tools(toolsFlow), nil, nil)
	if base == "" || base != ToolsDigest(tools(toolsFlow), nil, nil) {
		t.Fatalf("digest %q is empty or not stable", base)
	}
	if d := ToolsDigest(nil, nil, nil); d != "" {
		t.Errorf("no tools: digest %q, want none", d)
	}
	for name, c := range map[string][2]string{
		"tool command":    {`./population.sh "${{ args.city }}"`, `./population2.sh "${{ args.city }}"`},
		"tool parameters": {"required: [city]", "required: []"},
		"tool list":       {"tools: [lookup, add]", "tools: [lookup]"},
	} {
		src := strings.Replace(toolsFlow, c[0], c[1], 1)
		if src == toolsFlow {
			t.Fatalf("%s: nothing replaced", name)
		}
		if ToolsDigest(tools(src), nil, nil) == base {
			t.Errorf("changing the %s left the digest as it was", name)
		}
	}
}

func TestWaitTool(t *testing.T) {
	t.Parallel()
	src := "name: f\ntools:\n  ask:\n    kind: wait\n    question: 'Which ${{ args.topic }}?'\n    schema: {type: string}\n    timeout: 1h\n    parameters: {type: object, properties: {topic: {type: string}}, required: [topic]}\nsteps:\n  s: {kind: llm, prompt: hi, tools: [ask]}\n"
	f := mustParse(t, src)
	w := f.Tool("ask").Wait
	if w == nil || w.Timeout != time.Hour || w.Schema["type"] != "string" {
		t.Fatalf("wait tool = %+v", w)
	}
	if q, err := w.Question.Render(&Scope{Args: map[string]any{"topic": "city"}}); err != nil || q != "Which city?" {
		t.Errorf("question = %q, %v", q, err)
	}
	base := f.byID["s"].Fingerprint()
	for _, c := range [][2]string{{"Which", "What"}, {"1h", "2h"}, {"type: string}", "type: number}"}} {
		if mustParse(t, strings.Replace(src, c[0], c[1], 1)).byID["s"].Fingerprint() == base {
			t.Errorf("changing %q to %q left the fingerprint as it was", c[0], c[1])
		}
	}
}

// A wait step cannot ask once per item: the flow says so where it is
// written, not when the run reaches it.
func TestWaitStepForeachRefused(t *testing.T) {
	t.Parallel()
	src := "name: f\nsteps:\n  ask:\n    kind: wait\n    foreach: ${{ [1, 2] }}\n    question: q\n"
	_, err := Parse("f.yaml", []byte(src), Options{})
	if err == nil || !strings.Contains(err.Error(), `f.yaml:5:5: step "ask": a wait step cannot use foreach`) {
		t.Fatalf("Parse = %v", err)
	}
}
