package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/internal/humantime"
	"github.com/kitaruhq/kitaru/providers"
)

// Text rendering of run records for people; --json prints the records
// themselves.

const timeLayout = "2006-01-02 15:04:05"

// writeRunList prints executions list as a table, newest first (the order
// the engine returns), then the runs that cannot be read, each with what
// is wrong and what to do.
func writeRunList(w io.Writer, runs []*engine.Run, damaged engine.DamagedRuns, more listMore) error {
	if len(runs) == 0 && len(damaged) == 0 {
		_, err := fmt.Fprintln(w, more.empty())
		return err
	}
	tw := newTable(w)
	// The PARENT column is there only when a child run is listed.
	children := slices.ContainsFunc(runs, func(r *engine.Run) bool { return r.Parent != nil })
	head := "ID\tFLOW\tSTATUS\tSTARTED\tDURATION\tTOKENS\tCOST"
	if children {
		head += "\tPARENT"
	}
	fmt.Fprintln(tw, head)
	for _, r := range runs {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", r.ID, r.Flow, r.Status,
			fmtTime(r.StartedAt), runDuration(r), fmtTokens(r.Usage), fmtCost(&r.CostUSD))
		if children && r.Parent != nil {
			line += "\t" + r.Parent.Run + " " + parentStep(r.Parent)
		}
		fmt.Fprintln(tw, line)
	}
	for _, d := range damaged {
		fmt.Fprintf(tw, "%s\t-\tdamaged\t-\t-\t-\t-\n", d.RunID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(damaged) > 0 {
		fmt.Fprintln(w)
	}
	for _, d := range damaged {
		if _, err := fmt.Fprintf(w, "run %s: %v\n", d.RunID, d); err != nil {
			return err
		}
	}
	if more.Total > len(runs) {
		_, err := fmt.Fprintf(w, "\n%d of %d runs shown; --limit N shows more, --limit 0 all\n", len(runs), more.Total)
		return err
	}
	return nil
}

// listMore is what a list knows beyond the runs it shows: how many match
// in all, and, when none do under a filter, what there is instead.
type listMore struct {
	Total    int      // runs matching the filter; 0: no more than shown
	Flow     string   // the filter given
	Status   string   // the filter given
	AllRuns  int      // runs of any flow and status, when none matched
	AllFlows []string // their flows, sorted
}

// empty is what a list that shows no run says.
func (m listMore) empty() string {
	if m.AllRuns == 0 || (m.Flow == "" && m.Status == "") {
		return "no runs yet; start one with `kitaru run FLOW.yaml`"
	}
	var what string
	switch {
	case m.Flow != "" && m.Status != "":
		what = fmt.Sprintf("no %s runs of flow %q", m.Status, m.Flow)
	case m.Flow != "":
		what = fmt.Sprintf("no runs of flow %q", m.Flow)
	default:
		what = fmt.Sprintf("no %s runs", m.Status)
	}
	runs := "are %d runs"
	if m.AllRuns == 1 {
		runs = "is %d run"
	}
	flows := "flow"
	if len(m.AllFlows) != 1 {
		flows = "flows"
	}
	return fmt.Sprintf("%s; there "+runs+" in all, of %s %s", what, m.AllRuns, flows, strings.Join(m.AllFlows, ", "))
}

// writeRunDetail prints executions get: the run, its inputs, and one line
// per step, then where each step's files are.
func writeRunDetail(w io.Writer, r *engine.Run) error {
	fmt.Fprintf(w, "run       %s\n", r.ID)
	fmt.Fprintf(w, "flow      %s\n", r.Flow)
	status := string(r.Status)
	if c := continuedText(r.Ending); c != "" {
		status += ", " + c
	}
	fmt.Fprintf(w, "status    %s\n", status)
	if r.ReplayOf != nil {
		how := "changed steps re-executed"
		if r.ReplayFrom != "" {
			how = "from " + r.ReplayFrom
		}
		fmt.Fprintf(w, "replay of %s (%s)\n", *r.ReplayOf, how)
	}
	if len(r.Overrides) > 0 {
		fmt.Fprintf(w, "overrides %s\n", fmtMap(r.Overrides))
	}
	if p := r.Parent; p != nil {
		fmt.Fprintf(w, "parent    %s (step %s)\n", p.Run, parentStep(p))
	}
	fmt.Fprintf(w, "started   %s\n", fmtTime(r.StartedAt))
	fmt.Fprintf(w, "duration  %s\n", runDuration(r))
	fmt.Fprintf(w, "tokens    %s\n", fmtUsage(r.Usage))
	fmt.Fprintf(w, "cost      %s\n", fmtCost(&r.CostUSD))
	if len(r.Inputs) > 0 {
		fmt.Fprintf(w, "inputs    %s\n", fmtMap(r.Inputs))
	}
	if msg := runError(r); msg != "" {
		fmt.Fprintf(w, "error     %s\n", indentRest(msg, "          "))
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "files     %s\n", r.Dir)
	}

	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "STEP\tKIND\tSTATUS\tATTEMPTS\tDURATION\tTOKENS\tCOST\tMODEL\tNOTE")
	for _, s := range r.Steps {
		status := string(s.Status)
		if s.Reused {
			status += " (reused)"
		}
		status += recordItems(s)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Kind, status, s.Attempts,
			stepDuration(s), fmtTokens(s.Usage), fmtCost(s.CostUSD), stepModel(s), stepNote(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// Details that do not fit a table cell: errors, wait questions, what
	// changed in a step --from reused, files.
	for _, s := range r.Steps {
		if how := movedModel(&s); how != "" {
			fmt.Fprintf(w, "\n%s reused, though its model changed:\n  %s\n", s.ID, how)
		}
		if s.Error != nil && s.Status == engine.StepFailed {
			how := "failed"
			if s.Continued {
				how = "failed (continued: the run went on)"
			}
			fmt.Fprintf(w, "\n%s %s:\n  %s\n", s.ID, how, indentRest(withRemedy(*s.Error, s.Remedy), "  "))
		}
		if err := writeTurns(w, s.ID, s.Turns); err != nil {
			return err
		}
		for _, it := range s.Items {
			if err := writeTurns(w, fmt.Sprintf("%s[%d]", s.ID, it.Index), it.Turns); err != nil {
				return err
			}
		}
		writeItemChildren(w, s)
		if s.Wait != nil && s.Status == engine.StepWaiting {
			fmt.Fprintf(w, "\n%s asks%s:\n  %s\n", s.ID, questionsNote(s.Wait), indentRest(questionsText(s.Wait), "  "))
			if d := s.Wait.Deadline; d != nil && !time.Now().Before(*d) {
				// The engine sees it only when an answer comes; a person
				// looking should know now that one would be refused.
				fmt.Fprintf(w, "  its timeout ran out at %s: an answer now is refused, the step fails and the run goes on as after a failed step; then `kitaru retry %s` asks again\n", fmtTime(*d), r.ID)
			} else {
				if d != nil {
					fmt.Fprintf(w, "  answer by %s (its timeout)\n", fmtTime(*d))
				}
				fmt.Fprintf(w, "  answer with `kitaru input %s %s --value %s`\n", r.ID, s.ID, shellQuote(exampleJSON(s.Wait.Schema)))
			}
		}
	}
	var dirs []string
	for _, s := range r.Steps {
		if s.Dir != "" {
			dirs = append(dirs, fmt.Sprintf("  %s\t%s", s.ID, s.Dir))
		}
	}
	if len(dirs) > 0 {
		fmt.Fprintln(w, "\nartifacts and logs:")
		tw = newTable(w)
		for _, d := range dirs {
			fmt.Fprintln(tw, d)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Status == engine.RunCompleted && r.Output != nil {
		fmt.Fprintln(w, "\noutput:")
		writeOutput(w, r.Output)
	}
	return nil
}

// recordItems counts a foreach step's items for its status cell: " 3/3"
// when all are done, else " (1/3 done, 1 failed)".
func recordItems(s engine.StepResult) string {
	total := max(len(s.Items), s.ItemCount)
	if total == 0 {
		return ""
	}
	done, failed := 0, 0
	for _, it := range s.Items {
		switch it.Status {
		case engine.StepCompleted:
			done++
		case engine.StepFailed:
			failed++
		}
	}
	if done == total {
		return fmt.Sprintf(" %d/%d", done, total)
	}
	if s.Status == engine.StepPending || s.Status == engine.StepRunning {
		failed = 0 // they run again when the run is continued
	}
	return " (" + itemCounts(done, failed, total) + ")"
}

// writeTurns lists the model calls of a step (or item) whose record lists
// them: a tool loop, asking again for an answer that follows the schema,
// a fallback to the next model. What each cost, what it asked for or why
// its answer was not taken; `executions get --step` shows them whole.
func writeTurns(w io.Writer, who string, turns []engine.Turn) error {
	if len(turns) == 0 {
		return nil
	}
	tools, asked, fellBack := 0, false, false
	for _, t := range turns {
		asked = asked || len(t.ToolCalls) > 0
		for _, c := range t.ToolCalls {
			if !c.NotRun { // asked for on the last turn: not made
				tools++
			}
		}
		fellBack = fellBack || len(t.FailedModels) > 0
	}
	switch {
	case asked:
		fmt.Fprintf(w, "\n%s made %d %s and %d %s in its tool loop:\n", who,
			len(turns), plural(len(turns), "model call", "model calls"), tools, plural(tools, "tool call", "tool calls"))
	case len(turns) == 1:
		fmt.Fprintf(w, "\n%s fell back to the next model of its list:\n", who)
	default:
		fmt.Fprintf(w, "\n%s made %d model calls, asking again for an answer that follows its schema:\n", who, len(turns))
	}
	tw := newTable(w)
	for _, t := range turns {
		// A model of the step's list that gave no answer comes before the
		// one that did.
		for _, f := range t.FailedModels {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s gave no answer: %s\n", t.Turn, fmtTokens(f.Usage), fmtCost(f.CostUSD), fmtDuration(time.Duration(f.DurationMS)*time.Millisecond), f.Model, firstLine(f.Error))
		}
		what := turnOutcome(t)
		if fellBack && t.Model != "" {
			// Which model of the list answered.
			what = fmtModel(engine.StepResult{Model: t.Model, Alias: t.Alias}) + ": " + what
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", t.Turn, fmtTokens(t.Usage), fmtCost(t.CostUSD), fmtDuration(time.Duration(t.DurationMS)*time.Millisecond), what)
	}
	return tw.Flush()
}

// questionsNote says, of a step whose model put several questions
// through wait tools, that `kitaru input` answers them in order.
func questionsNote(w *engine.WaitInfo) string {
	if len(w.Calls) < 2 {
		return ""
	}
	return fmt.Sprintf(" (%d questions, answered in this order)", len(w.Calls))
}

// questionsText is a wait's question, or the questions of a step's wait
// tools, one a line, each with its tool.
func questionsText(w *engine.WaitInfo) string {
	if len(w.Calls) == 0 {
		return strings.TrimSpace(w.Question)
	}
	var b strings.Builder
	for i, q := range w.Calls {
		if i > 0 {
			b.WriteString("\n")
		}
		if len(w.Calls) > 1 {
			fmt.Fprintf(&b, "%d. ", i+1)
		}
		var where string
		switch {
		case q.Tool == "" && q.Item != nil:
			// A foreach item of a flow step, whose child run asks.
			where = fmt.Sprintf("item %d, its child run %s", *q.Item, q.ChildRun)
		default:
			where = "tool " + q.Tool
			if q.Item != nil {
				where = fmt.Sprintf("item %d, %s", *q.Item, where)
			}
			if q.ChildRun != "" {
				where += ", its child run " + q.ChildRun
			}
		}
		fmt.Fprintf(&b, "%s (%s)", strings.TrimSpace(q.Question), where)
	}
	return b.String()
}

// turnOutcome says in a few words what came of a turn.
func turnOutcome(t engine.Turn) string {
	switch {
	case len(t.ToolCalls) > 0:
		names := make([]string, len(t.ToolCalls))
		for i, c := range t.ToolCalls {
			names[i] = c.Name
			switch {
			case c.Waiting():
				names[i] += " (waiting for an answer)"
			case c.Wait != nil && c.Wait.Answered:
				names[i] += " (answered)"
			case c.NotRun:
				names[i] += " (not run: max_turns)"
			case c.Pending:
				names[i] += " (no result: stopped)"
			case c.Error != nil:
				names[i] += " (failed)"
			}
		}
		return "called " + strings.Join(names, ", ")
	case t.Error != nil && t.Model == "" && len(t.FailedModels) > 0:
		return "no answer" // every model failed: listed above
	case t.Error != nil:
		return "its answer " + *t.Error
	}
	return "answer taken"
}

// table aligns tab-separated cells in columns and, unlike a bare
// tabwriter, leaves no padding at the ends of lines.
type table struct {
	out io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	t := &table{out: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

func (t *table) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	if t.buf.Len() == 0 {
		return nil
	}
	for _, l := range strings.Split(strings.TrimSuffix(t.buf.String(), "\n"), "\n") {
		if _, err := fmt.Fprintln(t.out, strings.TrimRight(l, " ")); err != nil {
			return err
		}
	}
	t.buf.Reset()
	return nil
}

// stepNote says why a step of a replay, resume or retry ran or was reused
// (briefly: the details follow the table), and whether secrets were
// masked in what it passed on.
func stepNote(s engine.StepResult) string {
	notes := []string{}
	if r := stepReason(&s, true); r != "" {
		notes = append(notes, r)
	}
	if s.Continued {
		notes = append(notes, "continued: its failure did not fail the run")
	}
	if s.Masked {
		notes = append(notes, "secret values masked as ***")
	}
	if s.ChildRun != "" {
		notes = append(notes, "child run "+s.ChildRun)
	}
	return strings.Join(notes, "; ")
}

// stepModel is a step's MODEL cell: its own model, or for a foreach
// step, its items' (one model, or "several: a, b" when they called
// different ones: a list of models falls back item by item).
func stepModel(s engine.StepResult) string {
	if s.Model != "" || len(s.Items) == 0 {
		return fmtModel(s)
	}
	var models []string
	for _, it := range s.Items {
		m := fmtModel(engine.StepResult{Model: it.Model, Alias: it.Alias, Mock: it.Mock})
		if m != "" && !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	switch {
	case len(models) <= 1:
		return strings.Join(models, "")
	case len(models) <= 3:
		return "several: " + strings.Join(models, ", ")
	}
	return fmt.Sprintf("several (%d models)", len(models))
}

func fmtModel(s engine.StepResult) string {
	m := s.Model
	switch {
	case m == "":
		return ""
	case s.Alias != "" && s.Alias != m:
		m = s.Alias + "=" + m
	}
	if s.Mock {
		m += " (mock)"
	}
	return m
}

// writeLogLine prints one log line; withStep prefixes the step it came from.
func writeLogLine(w io.Writer, l engine.LogLine, withStep bool) error {
	prefix := l.Time.Local().Format("15:04:05")
	if withStep && l.Step != "" {
		prefix += " " + l.Step
		if l.Item != nil {
			prefix += fmt.Sprintf("[%d]", *l.Item)
		}
		prefix += " |"
	}
	_, err := fmt.Fprintf(w, "%s %s\n", prefix, strings.TrimRight(l.Text, "\n"))
	return err
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

// runDuration is how long a run's goes took (its active time), with the
// time since it started where that says more: "2.1s (wall 3h12m)" for a
// run that sat interrupted or waiting for hours between goes.
func runDuration(r *engine.Run) string {
	if r.EndedAt == nil || r.StartedAt.IsZero() {
		return "-"
	}
	wall := r.EndedAt.Sub(r.StartedAt)
	if r.ActiveMS == 0 {
		return fmtDuration(wall) // a record of a kitaru that did not keep it
	}
	return runTime(time.Duration(r.ActiveMS)*time.Millisecond, wall)
}

// runTime is a run's active time, and its wall time when that differs by
// a second or more (a go's own bookkeeping makes the two differ by a few
// milliseconds).
func runTime(active, wall time.Duration) string {
	if wall-active < time.Second || fmtDuration(wall) == fmtDuration(active) {
		return fmtDuration(active)
	}
	return fmtDuration(active) + " (wall " + fmtDuration(wall) + ")"
}

func stepDuration(s engine.StepResult) string {
	if s.Reused || s.DurationMS == 0 && s.Status != engine.StepCompleted && s.Status != engine.StepFailed {
		return "-"
	}
	return fmtDuration(time.Duration(s.DurationMS) * time.Millisecond)
}

// fmtDuration is how a duration is shown to people (see humantime): the
// engine's log lines write it the same way.
func fmtDuration(d time.Duration) string { return humantime.Duration(d) }

func fmtTokens(u providers.Usage) string {
	if n := u.Total(); n > 0 {
		return viewInt(n) // as the live view counts them
	}
	return "-"
}

// fmtUsage is "-" for a run that used no tokens, like the step table.
func fmtUsage(u providers.Usage) string {
	if u.Total() == 0 {
		return "-"
	}
	return viewInt(u.InputTokens) + " in, " + viewInt(u.OutputTokens) + " out"
}

// fmtCost prints dollars the way the live view does, so a step reads the
// same in both; nil (unknown price) and zero print "-".
func fmtCost(c *float64) string {
	if c == nil || *c == 0 {
		return "-"
	}
	return viewCost(*c)
}

// fmtMap prints inputs as name=value pairs, names sorted, values as JSON.
func fmtMap(m map[string]any) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		b, err := json.Marshal(m[k])
		if err != nil {
			b = []byte(fmt.Sprint(m[k]))
		}
		parts[i] = k + "=" + string(b)
	}
	return strings.Join(parts, " ")
}
