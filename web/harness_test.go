package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
	"github.com/kitaruhq/kitaru/internal/fakellm"
	"github.com/kitaruhq/kitaru/providers"
)

const (
	testToken  = "test-token"
	testSecret = "sk-test-4f1c9e2b7a"
)

// harness is a server over a real engine and a file store in a temporary
// directory, where the flows of the tests are written.
type harness struct {
	t     testing.TB
	dir   string
	files *filestore.Store
	store runstore.Store
	eng   *engine.Engine
	srv   *Server
	ts    *httptest.Server
}

// newHarness makes the harness; opts change the server's Config.
func newHarness(t testing.TB, opts ...func(*Config)) *harness {
	t.Helper()
	return newHarnessWith(t, nil, opts...)
}

// modelHarness is a harness whose openai/ models are the real client
// against llm (a scripted server speaking the wire protocol).
func modelHarness(t testing.TB, llm *fakellm.Server) *harness {
	t.Helper()
	env := map[string]string{"OPENAI_API_KEY": testSecret, "OPENAI_BASE_URL": llm.URL}
	return newHarnessWith(t, func(c *engine.Config) {
		c.Models = providers.Source{Options: providers.Options{Getenv: func(k string) string { return env[k] }}}
	})
}

// newHarnessWith is newHarness with eng changing the engine's Config.
func newHarnessWith(t testing.TB, eng func(*engine.Config), opts ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	files := filestore.New(filepath.Join(dir, "home"))
	var st runstore.Store = files
	// testSecret stands for a provider key in the environment: masked in
	// every record, it must never reach the page.
	ecfg := engine.Config{Store: st, WorkDir: dir, Holder: runstore.Holder{Host: "test", PID: os.Getpid()},
		Mask: []string{testSecret}}
	if eng != nil {
		eng(&ecfg)
	}
	return serve(t, dir, files, ecfg, opts)
}

func serve(t testing.TB, dir string, files *filestore.Store, ecfg engine.Config, opts []func(*Config)) *harness {
	st := ecfg.Store
	eng := engine.New(ecfg)
	base, cancel := context.WithCancel(context.Background())
	cfg := Config{
		Runner: eng, Subs: eng, Graphs: eng, Store: st, Token: testToken, Base: base,
		Step: func(r *engine.Run, step string, item *int) (any, error) {
			// The shape of cli's stepView, which the page reads.
			for _, s := range r.Steps {
				if s.ID != step {
					continue
				}
				if item == nil {
					return map[string]any{"step": s.ID, "kind": s.Kind, "record": s}, nil
				}
				for _, it := range s.Items {
					if it.Index == *item {
						return map[string]any{"step": s.ID, "kind": s.Kind, "item": *item, "record": it}, nil
					}
				}
				return nil, fmt.Errorf("step %s has no item %d", step, *item)
			}
			return nil, fmt.Errorf("run %s has no step %q", r.ID, step)
		},
		// The remedy's kind stands for its words (cli's, tested there).
		Explain: func(err error) (string, string) {
			if r := runstore.RemedyOf(err); r != nil {
				return err.Error(), string(r.Do)
			}
			return err.Error(), ""
		},
		LoadFlow: func(ctx context.Context, path string) (*flowspec.Flow, error) {
			return flowspec.Load(filepath.Join(dir, path), flowspec.Options{})
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		cancel()
		ts.CloseClientConnections()
		srv.Wait()
		ts.Close()
	})
	return &harness{t: t, dir: dir, files: files, store: st, eng: eng, srv: srv, ts: ts}
}

// flow writes a flow file; GATE in it becomes the path of a file the test
// creates to let a step finish (see open).
func (h *harness) flow(name, src string) string {
	h.t.Helper()
	src = strings.ReplaceAll(src, "GATE", filepath.Join(h.dir, "gate-"+name))
	if err := os.WriteFile(filepath.Join(h.dir, name+".yaml"), []byte(src), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return name + ".yaml"
}

// open lets the gated step of flow name finish.
func (h *harness) open(name string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, "gate-"+name), nil, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// do sends a request with the token (as Bearer) and returns the status
// and the body decoded into out (when out is not nil).
func (h *harness) do(method, path string, body any, out any) int {
	h.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, h.ts.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: %d %q is not JSON: %v", method, path, res.StatusCode, data, err)
		}
	}
	return res.StatusCode
}

// want sends a request set changes (no token unless it adds one) and
// checks its status.
func (h *harness) want(t *testing.T, method, path string, set func(*http.Request), code int) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, h.ts.URL+path, nil)
	set(req)
	res, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != code {
		t.Fatalf("%s %s: got %d, want %d", method, path, res.StatusCode, code)
	}
	return res
}

// start starts flow file over the API and returns the run's id.
func (h *harness) start(file string, inputs map[string]any) string {
	h.t.Helper()
	var res actionResult
	if code := h.do("POST", "/api/runs", map[string]any{"flow": file, "inputs": inputs}, &res); code != http.StatusAccepted && code != http.StatusOK {
		h.t.Fatalf("POST /api/runs: %d", code)
	}
	if res.ID == "" {
		h.t.Fatal("POST /api/runs answered no id")
	}
	return res.ID
}

// completed starts flow file and waits for its run to complete.
func (h *harness) completed(file string, inputs map[string]any) string {
	h.t.Helper()
	id := h.start(file, inputs)
	h.until(id, "completed", status(engine.RunCompleted))
	return id
}

// released waits until no process holds the run: the goroutine that
// finished it may still be letting its lease go when its record shows it
// ended, and an action taken meanwhile is refused as held.
func (h *harness) released(id string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		holder, err := h.store.Holder(context.Background(), id)
		if err == nil && holder == nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("run %s is still held (%v, %v)", id, holder, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// until polls the run until cond holds (or fails the test after 10s).
func (h *harness) until(id string, what string, cond func(*engine.Run) bool) *engine.Run {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		run, err := h.eng.Get(context.Background(), id)
		if err == nil && cond(run) {
			return run
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("run %s never got %s (last: %+v, %v)", id, what, run, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stepStatus(run *engine.Run, step string) engine.StepStatus {
	for _, s := range run.Steps {
		if s.ID == step {
			return s.Status
		}
	}
	return ""
}

func status(want engine.RunStatus) func(*engine.Run) bool {
	return func(r *engine.Run) bool { return r.Status == want }
}

// sse is an open event stream.
type sse struct {
	events chan sseEvent
	close  func()
}

type sseEvent struct {
	id string
	ev engine.Event
}

func (h *harness) stream(id string) *sse {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+"/api/runs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := h.ts.Client().Do(req)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		h.t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{events: make(chan sseEvent, 1024), close: func() { cancel(); res.Body.Close() }}
	go readSSE(res, s.events)
	h.t.Cleanup(s.close)
	return s
}

// readSSE sends the events of res's stream to events, and closes it when
// the stream ends.
func readSSE(res *http.Response, events chan<- sseEvent) {
	defer close(events)
	rd := bufio.NewReader(res.Body)
	var cur sseEvent
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.ev) != nil {
				return
			}
		case line == "" && cur.ev.Type != "":
			events <- cur
			cur = sseEvent{}
		}
	}
}

// next is the next durable event of the stream (ephemeral ones skipped).
func (s *sse) next(t *testing.T) sseEvent {
	t.Helper()
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if ephemeralEvent(e.ev.Type) {
				continue
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no event in 10s")
		}
	}
}
