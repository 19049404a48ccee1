package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
)

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /api/runs", s.listRuns)
	m.HandleFunc("GET /api/runs/{id}", s.getRun)
	m.HandleFunc("GET /api/runs/{id}/steps/{step}", s.getStep)
	m.HandleFunc("GET /api/runs/{id}/steps/{step}/items/{item}", s.getStep)
	m.HandleFunc("GET /api/runs/{id}/logs", s.getLogs)
	m.HandleFunc("GET /api/runs/{id}/events", s.events)
	m.HandleFunc("GET /api/runs/{id}/graph", s.getGraph)
	m.HandleFunc("GET /api/runs/{id}/replays", s.listReplays)
	m.HandleFunc("GET /api/compare", s.compare)
	m.HandleFunc("POST /api/runs", s.startRun)
	m.HandleFunc("POST /api/runs/{id}/replay", s.replayRun)
	m.HandleFunc("POST /api/runs/{id}/resume", s.continueRun(false))
	m.HandleFunc("POST /api/runs/{id}/retry", s.continueRun(true))
	m.HandleFunc("POST /api/runs/{id}/cancel", s.cancelRun)
	m.HandleFunc("POST /api/runs/{id}/input", s.answerRun)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path), "")
	})
	s.assets()
}

// listPage is GET /api/runs: summaries newest first, and the cursor of the
// next page ("" on the last).
type listPage struct {
	Runs []any  `json:"runs"`
	Next string `json:"next,omitempty"`
	// Damaged names runs whose records cannot be read.
	Damaged []string `json:"damaged,omitempty"`
}

// maxLimit bounds one page, so that a page stays fast whatever is asked.
const maxLimit = 500

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	// Query drops what it cannot read (a ';', a bad escape) with the
	// filter it was in: a page of every run is no answer to a filter.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.fail(w, &badRequest{fmt.Errorf("the query %q cannot be read (%v): give flow, status, id, limit and cursor as name=value joined by &, escaped", r.URL.RawQuery, err)})
		return
	}
	limit := 50
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			s.fail(w, &badRequest{fmt.Errorf("limit must be a positive whole number, not %q", l)})
			return
		}
		limit = min(n, maxLimit)
	}
	status := engine.RunStatus(q.Get("status"))
	switch status {
	case "", engine.RunRunning, engine.RunInterrupted, engine.RunWaiting, engine.RunCompleted, engine.RunFailed, engine.RunCancelled:
	default:
		s.fail(w, &badRequest{fmt.Errorf("status must be one of running, interrupted, waiting, completed, failed, cancelled, not %q", status)})
		return
	}
	// The store knows "running" only as recorded: a run recorded running
	// that nobody holds is interrupted. Both are asked for as running and
	// told apart here, so such a page may hold fewer than limit runs.
	stored := status
	if status == engine.RunInterrupted {
		stored = engine.RunRunning
	}
	// id= (beyond the spec's parameters) finds runs by the start of their
	// id, as the page's search does; "kr-" may be left out.
	prefix := q.Get("id")
	if prefix != "" && !strings.HasPrefix(prefix, "kr-") {
		prefix = "kr-" + prefix
	}
	page, err := s.cfg.Store.Query(r.Context(), runstore.Query{Flow: q.Get("flow"), Status: stored, IDPrefix: prefix, Limit: limit, Cursor: q.Get("cursor")})
	var damaged engine.DamagedRuns
	if err != nil && !errors.As(err, &damaged) {
		s.fail(w, err)
		return
	}
	out := listPage{Runs: []any{}, Next: page.Next}
	for _, m := range page.Runs {
		run := m.Run
		if run.Status == engine.RunRunning {
			if h, err := s.cfg.Store.Holder(r.Context(), run.ID); err == nil && h == nil {
				run.Status = engine.RunInterrupted
			}
		}
		if status != "" && run.Status != status {
			continue
		}
		out.Runs = append(out.Runs, s.record(&run))
	}
	for _, d := range damaged {
		out.Damaged = append(out.Damaged, d.RunID)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) record(run *engine.Run) any {
	if s.cfg.Record == nil {
		return run
	}
	return s.cfg.Record(run)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.cfg.Runner.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.record(run))
}

// getStep answers a step whole or, under items/N, one item of it.
func (s *Server) getStep(w http.ResponseWriter, r *http.Request) {
	run, item, ok := s.runAndItem(w, r, r.PathValue("step"), r.PathValue("item"))
	if !ok {
		return
	}
	v, err := s.cfg.Step(run, r.PathValue("step"), item)
	if err != nil {
		// The only ways a step (or item) of a run that exists is not found.
		msg, remedy := s.explain(err)
		writeError(w, http.StatusNotFound, msg, remedy)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// runAndItem reads the run the request names and the number of the item
// it asks for (it: "" none; an item goes with a step), or answers why not.
func (s *Server) runAndItem(w http.ResponseWriter, r *http.Request, step, it string) (*engine.Run, *int, bool) {
	var item *int
	if it != "" {
		n, err := strconv.Atoi(it)
		if err != nil || n < 0 {
			s.fail(w, &badRequest{fmt.Errorf("an item is a number from 0, not %q", it)})
			return nil, nil, false
		}
		if step == "" {
			s.fail(w, &badRequest{errors.New("an item goes with its step: give ?step=STEP&item=N")})
			return nil, nil, false
		}
		item = &n
	}
	run, err := s.cfg.Runner.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return nil, nil, false
	}
	return run, item, true
}

// logsBody is GET /api/runs/{id}/logs?step=&item=: the run's recorded log
// lines (masked as recorded), of one step or item when asked.
type logsBody struct {
	Lines []engine.LogLine `json:"lines"`
}

func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	step := q.Get("step")
	run, item, ok := s.runAndItem(w, r, step, q.Get("item"))
	if !ok {
		return
	}
	lines, err := s.cfg.Store.Logs(r.Context(), run.ID, 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := logsBody{Lines: []engine.LogLine{}}
	for _, l := range lines {
		if step != "" && l.Step != step {
			continue
		}
		if item != nil && (l.Item == nil || *l.Item != *item) {
			continue
		}
		out.Lines = append(out.Lines, l)
	}
	writeJSON(w, http.StatusOK, out)
}

// decode reads a JSON body into v, refusing fields it does not know (a
// misspelt "input" would otherwise be silently dropped).
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &badRequest{errors.New("the request has no body; send a JSON object")}
		}
		return &badRequest{fmt.Errorf("the request body is not the JSON object expected: %w", err)}
	}
	if dec.More() {
		return &badRequest{errors.New("the request body holds more than one JSON value")}
	}
	return nil
}

// actionResult answers an action: the run's id, and its record when the
// action had already ended when it was answered.
type actionResult struct {
	ID  string `json:"id"`
	Run any    `json:"run,omitempty"`
	// Note is a problem the engine reported beside the run's record (the
	// command line prints it as a note too).
	Note string `json:"note,omitempty"`
}

func (s *Server) answer(w http.ResponseWriter, st started) {
	if st.err != nil && st.run == nil {
		s.fail(w, st.err)
		return
	}
	if st.run == nil {
		writeJSON(w, http.StatusAccepted, actionResult{ID: st.id})
		return
	}
	res := actionResult{ID: st.id, Run: s.record(st.run)}
	if st.err != nil {
		res.Note, _ = s.explain(st.err)
	}
	writeJSON(w, http.StatusOK, res)
}

type startBody struct {
	Flow   string         `json:"flow"`
	Inputs map[string]any `json:"inputs"`
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request) {
	var b startBody
	if err := decode(r, &b); err != nil {
		s.fail(w, err)
		return
	}
	if b.Flow == "" {
		s.fail(w, &badRequest{errors.New(`"flow" is missing: give the path of the flow file to run`)})
		return
	}
	f, err := s.cfg.LoadFlow(r.Context(), b.Flow)
	if err != nil {
		s.fail(w, &badRequest{err})
		return
	}
	inputs, err := f.BindInputs(b.Inputs)
	if err != nil {
		s.fail(w, &badRequest{err})
		return
	}
	s.answer(w, s.background("", func(ctx context.Context, created func(string)) (*engine.Run, error) {
		return s.cfg.Runner.Start(ctx, engine.StartOptions{Flow: f, Inputs: inputs, OnCreated: created})
	}))
}

type replayBody struct {
	From      string         `json:"from"`
	Inputs    map[string]any `json:"inputs"`
	Overrides map[string]any `json:"overrides"`
	Flow      string         `json:"flow"` // an edited flow file, as --flow
}

func (s *Server) replayRun(w http.ResponseWriter, r *http.Request) {
	var b replayBody
	if err := decode(r, &b); err != nil {
		s.fail(w, err)
		return
	}
	src, err := s.cfg.Runner.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	opts := engine.ReplayOptions{Source: src.ID, From: b.From, Inputs: b.Inputs, Overrides: b.Overrides}
	if b.Flow != "" {
		if opts.Flow, err = s.cfg.LoadFlow(r.Context(), b.Flow); err != nil {
			s.fail(w, &badRequest{err})
			return
		}
	}
	s.answer(w, s.background("", func(ctx context.Context, created func(string)) (*engine.Run, error) {
		opts.OnCreated = created
		return s.cfg.Runner.Replay(ctx, opts)
	}))
}

func (s *Server) continueRun(retry bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		run, err := s.cfg.Runner.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			s.fail(w, err)
			return
		}
		st, _ := unheld(s, r.Context(), run.ID, func() (started, error) {
			st := s.background(run.ID, func(ctx context.Context, _ func(string)) (*engine.Run, error) {
				if retry {
					return s.cfg.Runner.Retry(ctx, run.ID, 0)
				}
				return s.cfg.Runner.Resume(ctx, run.ID, 0)
			})
			if st.run != nil {
				return st, nil
			}
			return st, st.err
		})
		s.answer(w, st)
	}
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("id")
	run, err := unheld(s, r.Context(), ref, func() (*engine.Run, error) { return s.cfg.Runner.Cancel(r.Context(), ref) })
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, actionResult{ID: run.ID, Run: s.record(run)})
}

type inputBody struct {
	Step  string          `json:"step"`
	Value json.RawMessage `json:"value"`
	Abort bool            `json:"abort"`
}

// answerRun answers a wait (or aborts it), then resumes the run in the
// background as `kitaru input` does.
func (s *Server) answerRun(w http.ResponseWriter, r *http.Request) {
	var b inputBody
	if err := decode(r, &b); err != nil {
		s.fail(w, err)
		return
	}
	ref := r.PathValue("id")
	if b.Abort {
		if b.Value != nil {
			s.fail(w, &badRequest{errors.New(`give "value" or "abort", not both`)})
			return
		}
		run, err := unheld(s, r.Context(), ref, func() (*engine.Run, error) { return s.cfg.Runner.Abort(r.Context(), ref, b.Step) })
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, actionResult{ID: run.ID, Run: s.record(run)})
		return
	}
	if b.Value == nil {
		s.fail(w, &badRequest{errors.New(`"value" is missing: give the answer as JSON (or {"abort": true} to end the run)`)})
		return
	}
	run, err := unheld(s, r.Context(), ref, func() (*engine.Run, error) { return s.cfg.Runner.Answer(r.Context(), ref, b.Step, b.Value) })
	if err != nil {
		s.fail(w, err)
		return
	}
	if finished(run.Status) {
		writeJSON(w, http.StatusOK, actionResult{ID: run.ID, Run: s.record(run)})
		return
	}
	s.answer(w, s.background(run.ID, func(ctx context.Context, _ func(string)) (*engine.Run, error) {
		return s.cfg.Runner.Resume(ctx, run.ID, 0)
	}))
}

func finished(st engine.RunStatus) bool {
	return st == engine.RunCompleted || st == engine.RunFailed || st == engine.RunCancelled
}

// graphBody is GET /api/runs/{id}/graph.
type graphBody struct {
	Steps []engine.GraphStep `json:"steps"`
}

func (s *Server) getGraph(w http.ResponseWriter, r *http.Request) {
	steps, err := s.cfg.Graphs.Graph(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, graphBody{Steps: steps})
}

// replaysBody is GET /api/runs/{id}/replays: the runs replaying it,
// newest first.
type replaysBody struct {
	Replays []any `json:"replays"`
}

// replaysPage is how many of the newest runs listReplays looks at first.
var replaysPage = maxLimit

func (s *Server) listReplays(w http.ResponseWriter, r *http.Request) {
	run, err := s.cfg.Runner.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	out := replaysBody{Replays: []any{}}
	// A replay starts after its source: the newest page usually reaches
	// back to the run's start; when it does not, the rest is read in one
	// query (each query of a file store looks at every run once).
	q := runstore.Query{Limit: replaysPage}
	for {
		page, err := s.cfg.Store.Query(r.Context(), q)
		var damaged engine.DamagedRuns
		if err != nil && !errors.As(err, &damaged) {
			s.fail(w, err)
			return
		}
		out.Replays = out.Replays[:0]
		reached := false
		for _, m := range page.Runs {
			if m.StartedAt.Before(run.StartedAt) {
				reached = true
				break
			}
			if m.ReplayOf != nil && *m.ReplayOf == run.ID {
				out.Replays = append(out.Replays, s.record(&m.Run))
			}
		}
		if reached || page.Next == "" || q.Limit == 0 {
			break
		}
		q.Limit = 0
	}
	writeJSON(w, http.StatusOK, out)
}

// compare is GET /api/compare?a=RUN&b=RUN: the two runs step by step, as
// `kitaru executions diff --json` prints them.
func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("a") == "" || q.Get("b") == "" {
		s.fail(w, &badRequest{errors.New("give the two runs to compare as ?a=RUN&b=RUN")})
		return
	}
	a, err := s.cfg.Runner.Get(r.Context(), q.Get("a"))
	if err != nil {
		s.fail(w, err)
		return
	}
	b, err := s.cfg.Runner.Get(r.Context(), q.Get("b"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, engine.Diff(a, b))
}
