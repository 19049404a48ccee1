package providers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/providers"
)

const cacheKey = "sk-cache-key-123456"

// cacheServer is an OpenAI server that answers "answer to PROMPT" (its
// key too, when the prompt says echo-key), 10 tokens in and 5 out, and
// counts its requests.
func cacheServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		n.Add(1)
		prompt := req.Messages[len(req.Messages)-1].Content
		answer := "answer to " + prompt
		if strings.Contains(prompt, "echo-key") {
			answer = "your key is " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if strings.Contains(prompt, "json") {
			answer = `{"topic": "otters"}`
		}
		a, _ := json.Marshal(answer)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini",
			"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, a)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// cacheWorld is one data directory that several runs (engines) share,
// with a clock the test moves.
type cacheWorld struct {
	t     *testing.T
	dir   string
	store *filestore.Store
	mu    sync.Mutex
	now   time.Time
}

func newCacheWorld(t *testing.T) *cacheWorld {
	dir := t.TempDir()
	return &cacheWorld{t: t, dir: dir, store: filestore.New(dir), now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
}

func (w *cacheWorld) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

// engine is an engine on the shared store whose OpenAI is at base.
func (w *cacheWorld) engine(base string) *engine.Engine {
	env := map[string]string{"OPENAI_BASE_URL": base, "OPENAI_API_KEY": cacheKey,
		providers.EnvModelRegistry: `{"aliases": {"fast": {"model": "openai/gpt-4o-mini"}}}`}
	opts := providers.Options{Getenv: func(k string) string { return env[k] }, Sleep: func(context.Context, time.Duration) error { return nil }}
	return engine.New(engine.Config{Store: w.store, Models: providers.Source{Options: opts}, Mask: []string{cacheKey},
		Now: func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }})
}

func (w *cacheWorld) flow(src string) *flowspec.Flow {
	w.t.Helper()
	f, err := flowspec.Parse("flow.yaml", []byte(src), flowspec.Options{CheckModel: providers.CheckModel})
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

// run starts src on base and wants it completed.
func (w *cacheWorld) run(base, src string, noCache bool) *engine.Run {
	w.t.Helper()
	f := w.flow(src)
	in, err := f.BindInputs(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	run, err := w.engine(base).Start(context.Background(), engine.StartOptions{Flow: f, Inputs: in, NoCache: noCache})
	if err != nil {
		w.t.Fatal(err)
	}
	if run.Status != engine.RunCompleted {
		w.t.Fatalf("run %s is %s: %v", run.ID, run.Status, run.Error)
	}
	return run
}

// cacheFlow is a flow of one llm step, ask, with body step; its model is
// openai/gpt-4o-mini unless the body names one.
func cacheFlow(step string) string {
	if !strings.Contains(step, "model:") {
		step = "    model: openai/gpt-4o-mini\n" + step
	}
	return "name: cached\nsteps:\n  ask:\n    kind: llm\n" + step
}

const cachedAsk = "    cache: true\n    prompt: tell me about otters\n"

// A second run of a cached step makes no call: the step's answer comes
// from the first run, at no cost, and says so. Any change to the resolved
// request is a miss: the prompt, the model, the temperature, max_tokens,
// the server. A step without cache: never takes one.
func TestCacheHitAndMisses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		second   string // the step's body in the second run
		otherSrv bool   // the second run calls another server
		wantHit  bool
	}{
		{name: "same request", second: cachedAsk, wantHit: true},
		{name: "an alias of the same model", second: "    model: fast\n" + cachedAsk, wantHit: true},
		{name: "changed prompt", second: "    cache: true\n    prompt: tell me about seals\n"},
		{name: "changed model", second: "    cache: true\n    model: openai/gpt-4o\n    prompt: tell me about otters\n"},
		{name: "changed temperature", second: cachedAsk + "    temperature: 0.2\n"},
		{name: "changed max_tokens", second: cachedAsk + "    max_tokens: 100\n"},
		{name: "a system message", second: cachedAsk + "    system: be brief\n"},
		{name: "changed base_url", second: cachedAsk, otherSrv: true},
		{name: "no cache: on the step", second: "    prompt: tell me about otters\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newCacheWorld(t)
			srv, n := cacheServer(t)
			first := w.run(srv.URL, cacheFlow(cachedAsk), false)
			if n.Load() != 1 || first.Steps[0].Why != nil {
				t.Fatalf("first run: %d requests, why %+v; want 1 call, no reason", n.Load(), first.Steps[0].Why)
			}
			base, count := srv.URL, n
			if tc.otherSrv {
				other, on := cacheServer(t)
				base, count = other.URL, on
			}
			before := count.Load()
			second := w.run(base, cacheFlow(tc.second), false)
			s := second.Steps[0]
			calls := count.Load() - before
			if !tc.wantHit {
				if calls != 1 || s.Why != nil {
					t.Fatalf("second run: %d requests, why %+v; want a call (a miss)", calls, s.Why)
				}
				return
			}
			if calls != 0 {
				t.Fatalf("second run made %d requests, want 0 (a hit)", calls)
			}
			if s.Why == nil || s.Why.Code != runstore.ReasonCached || s.Why.Run != first.ID || s.Why.Step != "ask" {
				t.Fatalf("cached step's why = %+v, want cached from %s step ask", s.Why, first.ID)
			}
			if s.Output != "answer to tell me about otters" || s.Usage.Total() != 0 || s.CostUSD == nil || *s.CostUSD != 0 {
				t.Errorf("cached step: output %v, usage %+v, cost %v; want the first answer at no cost", s.Output, s.Usage, s.CostUSD)
			}
			if s.Model != "openai/gpt-4o-mini" || second.Usage.Total() != 0 || second.CostUSD != 0 {
				t.Errorf("cached step model %q, run usage %+v cost %v", s.Model, second.Usage, second.CostUSD)
			}
			// The record is durable as any other: a read-back says the same.
			got, err := w.engine(base).Get(context.Background(), second.ID)
			if err != nil || got.Steps[0].Why == nil || got.Steps[0].Why.Code != runstore.ReasonCached {
				t.Errorf("stored record of the cached step: %+v, %v", got, err)
			}
		})
	}
}

// --no-cache reads nothing from the cache but still writes: the fresh
// answer replaces the old one, and the next run takes it.
func TestNoCache(t *testing.T) {
	t.Parallel()
	w := newCacheWorld(t)
	srv, n := cacheServer(t)
	w.run(srv.URL, cacheFlow(cachedAsk), false)
	fresh := w.run(srv.URL, cacheFlow(cachedAsk), true)
	if n.Load() != 2 || fresh.Steps[0].Why != nil {
		t.Fatalf("--no-cache run: %d requests in all, why %+v; want the call made", n.Load(), fresh.Steps[0].Why)
	}
	third := w.run(srv.URL, cacheFlow(cachedAsk), false)
	if n.Load() != 2 || third.Steps[0].Why == nil || third.Steps[0].Why.Run != fresh.ID {
		t.Fatalf("after --no-cache: %d requests, why %+v; want cached from %s", n.Load(), third.Steps[0].Why, fresh.ID)
	}
}

// cache: {ttl} takes only answers younger than ttl, by the engine's clock.
func TestCacheTTL(t *testing.T) {
	t.Parallel()
	w := newCacheWorld(t)
	srv, n := cacheServer(t)
	step := "    cache: {ttl: 24h}\n    prompt: tell me about otters\n"
	w.run(srv.URL, cacheFlow(step), false)
	w.advance(23 * time.Hour)
	if r := w.run(srv.URL, cacheFlow(step), false); n.Load() != 1 || r.Steps[0].Why == nil {
		t.Fatalf("23h later: %d requests, why %+v; want a hit", n.Load(), r.Steps[0].Why)
	}
	w.advance(2 * time.Hour)
	if r := w.run(srv.URL, cacheFlow(step), false); n.Load() != 2 || r.Steps[0].Why != nil {
		t.Fatalf("25h later: %d requests, why %+v; want a miss", n.Load(), r.Steps[0].Why)
	}
	// cache: true takes an answer of any age.
	w.advance(1000 * time.Hour)
	if r := w.run(srv.URL, cacheFlow(cachedAsk), false); n.Load() != 2 || r.Steps[0].Why == nil {
		t.Fatalf("cache: true, 1000h later: %d requests, why %+v; want a hit", n.Load(), r.Steps[0].Why)
	}
}

// Each item of a foreach step is its own request: a later run with one
// more item calls the model for that one only, and each cached item says
// which item of which run answered it.
func TestCacheForeachItems(t *testing.T) {
	t.Parallel()
	w := newCacheWorld(t)
	srv, n := cacheServer(t)
	flow := func(items string) string {
		return "name: each\ninputs:\n  xs: {type: list, default: " + items + "}\ndefaults: {cache: true}\nsteps:\n" +
			"  ask:\n    kind: llm\n    model: openai/gpt-4o-mini\n    foreach: ${{ inputs.xs }}\n    prompt: about ${{ item }}\n"
	}
	first := w.run(srv.URL, flow("[otters, seals]"), false)
	second := w.run(srv.URL, flow("[seals, otters, whales]"), false)
	if n.Load() != 3 {
		t.Fatalf("server saw %d requests, want 3 (2, then only whales)", n.Load())
	}
	items := second.Steps[0].Items
	wantFrom := []int{1, 0, -1}
	for i, it := range items {
		if wantFrom[i] < 0 {
			if it.Why != nil || it.Usage.Total() != 15 {
				t.Errorf("item %d: why %+v usage %+v; want a call", i, it.Why, it.Usage)
			}
			continue
		}
		if it.Why == nil || it.Why.Code != runstore.ReasonCached || it.Why.Run != first.ID || it.Why.Item == nil || *it.Why.Item != wantFrom[i] {
			t.Errorf("item %d: why %+v; want cached from %s item %d", i, it.Why, first.ID, wantFrom[i])
		}
		if it.Usage.Total() != 0 {
			t.Errorf("item %d usage %+v; want none", i, it.Usage)
		}
	}
	if second.Steps[0].Usage.Total() != 15 {
		t.Errorf("step usage %+v; want only the one call's", second.Steps[0].Usage)
	}
}

var hexKeyRE = regexp.MustCompile(`^[0-9a-f]{64}\.json$`)

// cacheFiles are the entries under the world's cache directory.
func (w *cacheWorld) cacheFiles() []string {
	var out []string
	_ = filepath.WalkDir(w.store.CacheDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// A damaged entry is a miss, never an error: the call is made and its
// answer replaces the entry.
func TestCacheDamagedEntry(t *testing.T) {
	t.Parallel()
	w := newCacheWorld(t)
	srv, n := cacheServer(t)
	w.run(srv.URL, cacheFlow(cachedAsk), false)
	files := w.cacheFiles()
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one entry", files)
	}
	if err := os.WriteFile(files[0], []byte(`{"run":"kr-x","te`), 0o600); err != nil {
		t.Fatal(err)
	}
	second := w.run(srv.URL, cacheFlow(cachedAsk), false)
	if n.Load() != 2 || second.Steps[0].Why != nil {
		t.Fatalf("damaged entry: %d requests, why %+v; want a call", n.Load(), second.Steps[0].Why)
	}
	third := w.run(srv.URL, cacheFlow(cachedAsk), false)
	if n.Load() != 2 || third.Steps[0].Why == nil || third.Steps[0].Why.Run != second.ID {
		t.Fatalf("after the damaged entry: %d requests, why %+v; want cached from %s", n.Load(), third.Steps[0].Why, second.ID)
	}
}

// Keys are hashes and entries hold the answer as the record holds it,
// masked: the key a server echoed is in neither, nor is the prompt.
func TestCacheHoldsNoSecret(t *testing.T) {
	t.Parallel()
	w := newCacheWorld(t)
	srv, _ := cacheServer(t)
	first := w.run(srv.URL, cacheFlow("    cache: true\n    prompt: echo-key please\n"), false)
	if out, _ := first.Steps[0].Output.(string); strings.Contains(out, cacheKey) || !strings.Contains(out, "***") {
		t.Fatalf("the record's output %q should have the key masked", out)
	}
	files := w.cacheFiles()
	if len(files) != 1 || !hexKeyRE.MatchString(filepath.Base(files[0])) {
		t.Fatalf("cache holds %v, want one entry named by a SHA-256", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), cacheKey) || strings.Contains(string(data), "echo-key please") {
		t.Errorf("cache entry holds the key or the prompt: %s", data)
	}
	second := w.run(srv.URL, cacheFlow("    cache: true\n    prompt: echo-key please\n"), false)
	if second.Steps[0].Output != first.Steps[0].Output {
		t.Errorf("cached output %v, want the masked %v", second.Steps[0].Output, first.Steps[0].Output)
	}
}

// A step with a schema caches its accepted answer and gives the parsed
// value from the cache; an offline mock answer is never cached.
func TestCacheSchemaAndMock(t *testing.T) {
	t.Parallel()
	w := newCacheWorld(t)
	srv, n := cacheServer(t)
	step := "    cache: true\n    prompt: answer in json\n    schema: {type: object, required: [topic], properties: {topic: {type: string}}}\n"
	w.run(srv.URL, cacheFlow(step), false)
	second := w.run(srv.URL, cacheFlow(step), false)
	if n.Load() != 1 || second.Steps[0].Why == nil {
		t.Fatalf("schema step: %d requests, why %+v; want a hit", n.Load(), second.Steps[0].Why)
	}
	if m, ok := second.Steps[0].Output.(map[string]any); !ok || m["topic"] != "otters" {
		t.Errorf("cached schema output = %#v, want the parsed answer", second.Steps[0].Output)
	}

	mw := newCacheWorld(t)
	env := map[string]string{providers.EnvMockResponse: "mocked"}
	opts := providers.Options{Getenv: func(k string) string { return env[k] }}
	eng := engine.New(engine.Config{Store: mw.store, Models: providers.Source{Options: opts}})
	f := mw.flow(cacheFlow(cachedAsk))
	in, _ := f.BindInputs(nil)
	if _, err := eng.Start(context.Background(), engine.StartOptions{Flow: f, Inputs: in}); err != nil {
		t.Fatal(err)
	}
	if files := mw.cacheFiles(); len(files) != 0 {
		t.Errorf("a mocked answer was cached: %v", files)
	}
}
