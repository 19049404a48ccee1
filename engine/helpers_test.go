package engine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/engine/runstore/memstore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

// testEnv is an engine over a fresh store, with a directory for the
// counter files steps append to.
type testEnv struct {
	t       *testing.T
	home    string
	counter string
	store   runstore.Store
	files   *filestore.Store // the store, when it keeps files (newFileEnv)
	eng     *Engine
	events  *eventLog
	models  *fakeModels
}

type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) Event(e Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) of(t EventType) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.evs {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// newEnv is an engine over an in-memory store: what most tests need.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	return newEnvOver(t, memstore.New(), "")
}

// newFileEnv is an engine over a file store, for tests of what is on disk.
func newFileEnv(t *testing.T) *testEnv {
	t.Helper()
	home := t.TempDir()
	return newEnvOver(t, filestore.New(home), home)
}

func newEnvOver(t *testing.T, st runstore.Store, home string) *testEnv {
	te := &testEnv{t: t, home: home, counter: t.TempDir(), store: st, events: &eventLog{}, models: &fakeModels{}}
	te.files, _ = st.(*filestore.Store)
	wd, _ := os.Getwd()
	te.eng = New(Config{Store: te.store, Observer: te.events, Models: te.models, Secrets: fakeSecrets{"webhook": {"TOKEN": "s3cr3t-value"}}, WorkDir: wd})
	return te
}

// flow compiles YAML; COUNTER in it is replaced by the counter directory.
func (te *testEnv) flow(src string) *flowspec.Flow {
	te.t.Helper()
	src = strings.ReplaceAll(src, "COUNTER", te.counter)
	f, err := flowspec.Parse("test.yaml", []byte(src), flowspec.Options{})
	if err != nil {
		te.t.Fatalf("flow does not load: %v", err)
	}
	return f
}

func (te *testEnv) start(f *flowspec.Flow, inputs map[string]any) *Run {
	te.t.Helper()
	in, err := f.BindInputs(inputs)
	if err != nil {
		te.t.Fatal(err)
	}
	run, err := te.eng.Start(context.Background(), StartOptions{Flow: f, Inputs: in})
	if err != nil {
		te.t.Fatalf("start: %v", err)
	}
	return run
}

// count is how often steps appended to the counter file name.
func (te *testEnv) count(name string) int {
	data, err := os.ReadFile(filepath.Join(te.counter, name))
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}

func step(t *testing.T, run *Run, id string) StepResult {
	t.Helper()
	for _, s := range run.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("run has no step %s", id)
	return StepResult{}
}

func wantStatus(t *testing.T, run *Run, want RunStatus) {
	t.Helper()
	if run.Status != want {
		msg := ""
		if run.Error != nil {
			msg = *run.Error
		}
		t.Fatalf("run %s is %s (%s), want %s", run.ID, run.Status, msg, want)
	}
}

type fakeSecrets map[string]map[string]string

func (f fakeSecrets) Get(name string) (map[string]string, error) {
	if kv, ok := f[name]; ok {
		return kv, nil
	}
	return nil, os.ErrNotExist
}

// fakeModels answers every call with "answer to: <last message>".
type fakeModels struct {
	mu    sync.Mutex
	calls int
	reg   providers.Registry
	used  []providers.Registry
	fail  error // when set, every call fails with it
}

func (m *fakeModels) Current() (providers.Registry, error) { return m.reg, nil }
func (m *fakeModels) Caller(reg providers.Registry) providers.Caller {
	m.mu.Lock()
	m.used = append(m.used, reg)
	m.mu.Unlock()
	return fakeCaller{m, reg}
}

type fakeCaller struct {
	m   *fakeModels
	reg providers.Registry
}

// Target resolves as the real caller does, from the run's registry.
func (c fakeCaller) Target(req providers.Request) (providers.Target, bool) {
	res, err := c.reg.Resolve(req.Model, func(string) string { return "" })
	if err != nil {
		return providers.Target{}, false
	}
	return providers.Target{Model: res.Model, Alias: res.Alias}, true
}

func (c fakeCaller) Call(ctx context.Context, req providers.Request) (*providers.Response, error) {
	c.m.mu.Lock()
	c.m.calls++
	fail := c.m.fail
	c.m.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	cost := 0.5
	return &providers.Response{Text: "answer to: " + req.Messages[len(req.Messages)-1].Content, Model: "fake/model", Alias: req.Model,
		Usage: providers.Usage{InputTokens: 10, OutputTokens: 5}, CostUSD: &cost, CredentialSource: providers.CredentialNone}, nil
}

var bg = context.Background()

// listRuns is every readable run of a store, newest first, and its
// damaged ones as the error.
func listRuns(s runstore.Store) ([]*RunMeta, error) {
	page, err := s.Query(bg, runstore.Query{})
	return page.Runs, err
}

// journal is every event of run id.
func journal(s runstore.Store, id string) ([]Event, []string, error) {
	return s.Events(bg, id, 0, 0)
}

// setCrashHook calls fn at the engine's and the file store's named points
// (see hook); nil removes it.
func setCrashHook(fn func(point, path string)) {
	testHook = fn
	filestore.CrashHook = fn
}

// mkRun records a completed one-step run id started at started.
func mkRun(t *testing.T, s runstore.Store, id string, started time.Time) *RunMeta {
	t.Helper()
	m := &RunMeta{Run: Run{ID: id, Flow: "f", Status: RunCompleted, StartedAt: started, Inputs: map[string]any{"a": 1.0}},
		Plan: []PlanStep{{ID: "a", Kind: "checkpoint"}}}
	l, err := s.Create(bg, m, []byte("name: f\n"), runstore.Holder{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Release(bg, l)
	return m
}

// creatingGrace is the file store's: how old a run directory still being
// built must be to count as a dead creator's.
const creatingGrace = time.Minute

func runstoreQuery() runstore.Query { return runstore.Query{} }

// whyOf is a step's or an item's reason with the run it names written
// "SRC" when it is src, so that tests can spell the reasons they want.
func whyOf(r *Reason, src string) Reason {
	if r == nil {
		return Reason{}
	}
	out := *r
	if out.Run == src {
		out.Run = "SRC"
	}
	if out.Though != nil {
		th := whyOf(out.Though, src)
		out.Though = &th
	}
	return out
}

// wantWhy fails t unless step id of run has the reason want (see whyOf).
func wantWhy(t *testing.T, run *Run, id, src string, want Reason) {
	t.Helper()
	if got := whyOf(step(t, run, id).Why, src); !reflect.DeepEqual(got, want) {
		t.Errorf("step %s: why %+v, want %+v", id, got, want)
	}
}
