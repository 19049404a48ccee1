package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/engine"
)

// Every example in examples/ is checked the way its comments tell a
// newcomer to use it: validated, then run offline to its documented end
// through the real binary.

// exampleSessions drive each example; a new example without one fails
// TestExamplesAllCovered.
var exampleSessions = map[string]func(t *testing.T, e *e2e, flow string){
	"llm_writer.yaml": func(t *testing.T, e *e2e, flow string) {
		r := e.must(0, "run", flow, "--input", "topic=durable execution")
		if !strings.Contains(r.Stdout, "Mocked answer.") {
			t.Errorf("the draft is not the output:\n%s", r)
		}
		run := e.record("last")
		wantSteps(t, run, map[string]engine.StepStatus{"outline": engine.StepCompleted, "draft": engine.StepCompleted})
	},
	"subflow.yaml": subflowSession,
	"summarise.yaml": func(t *testing.T, e *e2e, flow string) {
		r := e.must(0, "run", flow, "--input", "text=one two three")
		if !strings.Contains(r.Stdout, "Mocked answer. (3 words)") {
			t.Errorf("the summary is not the output:\n%s", r)
		}
	},
	"fan_out.yaml": func(t *testing.T, e *e2e, flow string) {
		r := e.must(0, "run", flow)
		if n := strings.Count(r.Stdout, "- Mocked answer."); n != 3 {
			t.Errorf("want one joined line per topic (3), got %d:\n%s", n, r)
		}
		run := e.record("last")
		if s := stepOf(t, run, "summarise"); len(s.Items) != 3 {
			t.Errorf("summarise ran %d items, want 3", len(s.Items))
		}
	},
	"replay_with_overrides.yaml": func(t *testing.T, e *e2e, flow string) {
		e.must(0, "run", flow)
		first := e.record("last")
		e.must(0, "replay", "last", "--from", "write_draft", "--override", "research=Edited notes")
		replay := e.record("last")
		if replay.ID == first.ID || replay.ReplayOf == nil || *replay.ReplayOf != first.ID {
			t.Fatalf("the replay is not a new run of %s: %+v", first.ID, replay)
		}
		if out := stepOf(t, replay, "research").Output; out != "Edited notes" {
			t.Errorf("research output after the override = %v, want Edited notes", out)
		}
		if s := stepOf(t, replay, "write_draft"); s.Reused || s.Status != engine.StepCompleted {
			t.Errorf("write_draft was not run again: %+v", s)
		}
		wantSteps(t, replay, map[string]engine.StepStatus{"publish": engine.StepCompleted})
	},
	"agent.yaml": func(t *testing.T, e *e2e, flow string) {
		// The mock called each tool once: the person's question waits.
		r := e.must(ExitWaiting, "run", flow)
		if !strings.Contains(r.Stderr, "waiting for input at step research:\n  City proper or metro area? (tool ask_person)") {
			t.Errorf("the waiting run does not show the question:\n%s", r)
		}
		r = e.must(0, "executions", "get", "last", "--step", "research")
		for _, want := range []string{`→ population {"city":"Paris"}`, ": 2102650", "→ add", "asks: City proper or metro area?"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("the conversation lacks %q:\n%s", want, r.Stdout)
			}
		}
		e.must(0, "input", "last", "--value", `"city proper"`)
		run := e.record("last")
		turns := stepOf(t, run, "research").Turns
		if run.Output != "Mocked answer." || len(turns) != 2 || turns[0].ToolCalls[2].Output != "city proper" {
			t.Errorf("output %v, turns %+v", run.Output, turns)
		}
		r = e.must(0, "executions", "get", "last", "--step", "research")
		if !strings.Contains(r.Stdout, "asked: City proper or metro area?\n      answer: city proper") {
			t.Errorf("the conversation lacks the answer:\n%s", r.Stdout)
		}
	},
	"wait_and_resume.yaml": func(t *testing.T, e *e2e, flow string) {
		r := e.must(ExitWaiting, "run", flow)
		if !strings.Contains(r.Stderr, "approval") {
			t.Errorf("the waiting run does not say which step waits:\n%s", r)
		}
		e.must(ExitWaiting, "input", "last", "approval", "--value", "true")
		r = e.must(0, "input", "last", "details", "--value", `{"channel": "blog", "tags": ["ai"]}`)
		run := e.record("last")
		wantSteps(t, run, map[string]engine.StepStatus{
			"draft": engine.StepCompleted, "approval": engine.StepCompleted,
			"details": engine.StepCompleted, "publish": engine.StepCompleted,
		})
		out, _ := run.Output.(map[string]any)
		if out["channel"] != "blog" || out["text"] != "Mocked answer." {
			t.Errorf("published %v, want channel blog and the draft", run.Output)
		}

		// Said no: nothing is asked or published, and the output says so.
		e.must(ExitWaiting, "run", flow)
		r = e.must(0, "input", "last", "approval", "--value", "false")
		if !strings.Contains(r.Stdout, "Not published") {
			t.Errorf("a refused draft does not say it was not published:\n%s", r)
		}
		wantSteps(t, e.record("last"), map[string]engine.StepStatus{
			"approval": engine.StepCompleted, "details": engine.StepSkipped, "publish": engine.StepSkipped,
		})
	},
	"structured.yaml": func(t *testing.T, e *e2e, flow string) {
		// As its comment says: a JSON answer that follows the schema is
		// the step's output, and the next step reads its fields.
		e.setenv("KITARU_LLM_MOCK_RESPONSE", `{"name": "Ada Lovelace", "year": 1843, "fields": ["mathematics"]}`)
		r := e.must(0, "run", flow)
		if !strings.Contains(r.Stdout, "Ada Lovelace (1843), mathematics") {
			t.Errorf("the line is not built from the answer's fields:\n%s", r)
		}
		if out := stepOf(t, e.record("last"), "extract").Output; fmt.Sprint(out) != "map[fields:[mathematics] name:Ada Lovelace year:1843]" {
			t.Errorf("extract's output is %#v, want the parsed answer", out)
		}
		// Prose breaks it: asked again twice, then the step fails naming
		// where, and executions get lists the three calls.
		e.setenv("KITARU_LLM_MOCK_RESPONSE", `{"name": "Ada Lovelace", "year": "1843", "fields": []}`)
		r = e.must(1, "run", flow)
		if !strings.Contains(r.Stderr, "breaks the schema at /year: got string, want integer; it was asked 3 times") {
			t.Errorf("the failure does not name the pointer that broke:\n%s", r)
		}
		if r = e.must(0, "executions", "get", "last"); !strings.Contains(r.Stdout, "extract made 3 model calls") {
			t.Errorf("executions get does not list the calls:\n%s", r)
		}
		// --step shows each answer and why it was refused.
		r = e.must(0, "executions", "get", "last", "--step", "extract")
		if n := strings.Count(r.Stdout, "refused:  its answer breaks the schema at /year"); n != 3 || !strings.Contains(r.Stdout, `answer:   {"name": "Ada Lovelace", "year": "1843"`) {
			t.Errorf("executions get --step shows %d refused answers, want 3:\n%s", n, r)
		}
	},
	"failure.yaml": failureSession,
	"shell_and_llm.yaml": func(t *testing.T, e *e2e, flow string) {
		e.must(0, "run", flow)
		run := e.record("last")
		wantSteps(t, run, map[string]engine.StepStatus{
			"facts": engine.StepCompleted, "explain": engine.StepCompleted,
			"notify": engine.StepSkipped, // only with --input notify=true and the webhook secret
		})
		if facts, _ := stepOf(t, run, "facts").Output.(string); !strings.Contains(facts, "directory: .\nfiles: ") {
			t.Errorf("facts gathered nothing: %q", facts)
		}

		// As its comment says: store the webhook token, then ask for the
		// notification (the file backend stands in for the OS keyring).
		e.setenv("KITARU_SECRETS_BACKEND", "file")
		const token = "whk-SECRET-0d9c8b7a"
		e.must(0, "secrets", "set", "webhook", "--WEBHOOK_TOKEN="+token)
		e.must(0, "run", flow, "--input", "notify=true")
		run = e.record("last")
		notify := stepOf(t, run, "notify")
		if notify.Status != engine.StepCompleted || notify.Output != fmt.Sprintf("would post 14 bytes with a token of %d characters", len(token)) {
			t.Errorf("notify = %s %v", notify.Status, notify.Output)
		}
		assertNotOnDisk(t, e.Home, token)
	},
}

func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	return files
}

func TestExamplesAllCovered(t *testing.T) {
	for _, f := range exampleFiles(t) {
		if exampleSessions[filepath.Base(f)] == nil {
			t.Errorf("%s has no session in examples_test.go: say how a newcomer runs it", f)
		}
	}
}

// exampleNeeds are the warnings validate gives about the examples on a
// machine with no registry and no secrets.
var exampleNeeds = []string{`model alias "fast" is not registered on this machine`, `secret "webhook" does not exist on this machine`, `names no model, and this machine has no default alias`}

func TestExamples(t *testing.T) {
	for _, f := range exampleFiles(t) {
		name := filepath.Base(f)
		session := exampleSessions[name]
		if session == nil {
			continue
		}
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			e := newE2E(t)
			requireEngine(t, e)
			flow, err := filepath.Abs(f)
			if err != nil {
				t.Fatal(err)
			}
			// The examples' alias and secret are what a newcomer sets up
			// first; this offline machine has neither, and is told so.
			if r := e.run("validate", flow); r.Code != 0 || onlyWarnings(r.Stderr, exampleNeeds...) != nil {
				t.Fatalf("kitaru validate %s is not clean (%v):\n%s", name, onlyWarnings(r.Stderr, exampleNeeds...), r)
			}
			// Offline: no keys, no registry; the mock answers every llm step.
			e.setenv("KITARU_LLM_MOCK_RESPONSE", "Mocked answer.")
			session(t, e, flow)
		})
	}
}

func wantSteps(t *testing.T, run *engine.Run, want map[string]engine.StepStatus) {
	t.Helper()
	for id, st := range want {
		if got := stepOf(t, run, id).Status; got != st {
			t.Errorf("step %s is %s, want %s", id, got, st)
		}
	}
}
