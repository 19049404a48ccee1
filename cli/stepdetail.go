package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine"
	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/providers"
)

// stepView is one step (or one item of it) whole, as `executions get
// --step` shows it: the record and the request that was sent.
type stepView struct {
	Step   string                `json:"step"`
	Kind   string                `json:"kind"`
	Item   *int                  `json:"item,omitempty"`
	Record any                   `json:"record"`
	Prompt *runstore.Prompt      `json:"prompt,omitempty"`
	Turns  []runstore.Turn       `json:"-"`
	Tries  []runstore.Attempt    `json:"-"`
	Status runstore.StepStatus   `json:"-"`
	Output any                   `json:"-"`
	Error  *string               `json:"-"`
	Usage  providers.Usage       `json:"-"`
	Cost   *float64              `json:"-"`
	Count  int                   `json:"-"`
	Model  string                `json:"-"`
	Items  []runstore.ItemResult `json:"-"`
	Note   string                `json:"-"` // why it ran, was reused or answered from the cache, as the run's view says
}

// viewStep finds step (and item) in run.
func viewStep(run *engine.Run, step string, item *int) (*stepView, error) {
	var ids []string
	for i := range run.Steps {
		s := &run.Steps[i]
		ids = append(ids, s.ID)
		if s.ID != step {
			continue
		}
		v := &stepView{Step: s.ID, Kind: string(s.Kind), Record: s, Turns: s.Turns, Tries: s.AttemptsDetail, Status: s.Status,
			Output: s.Output, Error: s.Error, Usage: s.Usage, Cost: s.CostUSD, Count: s.Attempts, Model: stepModel(*s), Items: s.Items,
			Note: stepReason(s, false)}
		name := "prompt.json"
		if item != nil {
			at := slices.IndexFunc(s.Items, func(it runstore.ItemResult) bool { return it.Index == *item })
			if at < 0 {
				return nil, usageErr(fmt.Errorf("step %s has no item %d (it has %d items, from 0)", step, *item, len(s.Items)))
			}
			it := &s.Items[at]
			v.Item, v.Record, v.Turns, v.Tries, v.Status, v.Output, v.Error, v.Usage, v.Cost, v.Count, v.Items =
				item, it, it.Turns, it.AttemptsDetail, it.Status, it.Output, it.Error, it.Usage, it.CostUSD, it.Attempts, nil
			v.Note = itemReason(it)
			if m := fmtModel(engine.StepResult{Model: it.Model, Alias: it.Alias, Mock: it.Mock}); m != "" {
				v.Model = m // an older record's items have none: the step's
			}
			name = "prompt-" + strconv.Itoa(*item) + ".json"
		}
		if s.Dir != "" {
			if data, err := os.ReadFile(filepath.Join(s.Dir, name)); err == nil {
				var req runstore.Prompt
				if json.Unmarshal(data, &req) == nil {
					v.Prompt = &req
				}
			}
		}
		return v, nil
	}
	// f[1] is how the views name an item; --step takes the step alone.
	if m := itemRef.FindStringSubmatch(step); m != nil && slices.Contains(ids, m[1]) {
		return nil, usageErr(fmt.Errorf("--step takes a step id, and the item goes in --item: kitaru executions get %s --step %s --item %s", run.ID, m[1], m[2]))
	}
	return nil, usageErr(fmt.Errorf("run %s has no step %q; its steps are %s", run.ID, step, strings.Join(ids, ", ")))
}

// itemRef is an item named as the views name it: step[N].
var itemRef = regexp.MustCompile(`^(.+)\[([0-9]+)\]$`)

// writeStepDetail shows one step whole: what was asked, each turn of its
// conversation (its tool calls, an answer refused for its schema, the
// models of its list that gave no answer), the answer, and every attempt.
func writeStepDetail(w io.Writer, v *stepView) {
	what := v.Step
	if v.Item != nil {
		what += fmt.Sprintf("[%d]", *v.Item)
	}
	fmt.Fprintf(w, "step      %s (%s)\n", what, v.Kind)
	fmt.Fprintf(w, "status    %s\n", v.Status)
	if v.Note != "" {
		fmt.Fprintf(w, "note      %s\n", v.Note)
	}
	fmt.Fprintf(w, "attempts  %d\n", v.Count)
	if v.Model != "" {
		fmt.Fprintf(w, "model     %s\n", v.Model)
	}
	fmt.Fprintf(w, "tokens    %s\n", fmtUsage(v.Usage))
	fmt.Fprintf(w, "cost      %s\n", fmtCost(v.Cost))
	if v.Prompt != nil {
		fmt.Fprintln(w, "\nasked")
		for _, m := range v.Prompt.Messages {
			fmt.Fprintf(w, "  %-9s %s\n", m.Role+":", indentRest(m.Content, "            "))
		}
		if len(v.Prompt.Tools) > 0 {
			names := make([]string, 0, len(v.Prompt.Tools))
			for _, t := range v.Prompt.Tools {
				names = append(names, t.Name)
			}
			fmt.Fprintf(w, "  tools:    %s\n", strings.Join(names, ", "))
		}
	}
	for _, t := range v.Turns {
		fmt.Fprintf(w, "\nturn %d    %s, %s, %s", t.Turn, fmtUsage(t.Usage), fmtCost(t.CostUSD), fmtDuration(time.Duration(t.DurationMS)*time.Millisecond))
		if t.Model != "" {
			fmt.Fprintf(w, ", %s", fmtModel(engine.StepResult{Model: t.Model, Alias: t.Alias}))
		}
		fmt.Fprintln(w)
		for _, f := range t.FailedModels {
			fmt.Fprintf(w, "  %-9s %s after %s: %s\n", "no answer:", f.Model, fmtDuration(time.Duration(f.DurationMS)*time.Millisecond), indentRest(f.Error, "            "))
		}
		if t.Text != "" {
			label := "said"
			if len(t.ToolCalls) == 0 {
				label = "answer"
			}
			fmt.Fprintf(w, "  %-9s %s\n", label+":", indentRest(t.Text, "            "))
		}
		if t.Error != nil && (t.Model != "" || len(t.FailedModels) == 0) {
			// An answer that broke the schema (not a call no model answered).
			fmt.Fprintf(w, "  %-9s its answer %s\n", "refused:", indentRest(*t.Error, "            "))
		}
		for _, c := range t.ToolCalls {
			args := c.ArgumentsText
			if args == "" {
				raw, _ := json.Marshal(c.Arguments)
				args = string(raw)
			}
			fmt.Fprintf(w, "  → %s %s\n", c.Name, args)
			switch {
			case c.Waiting():
				fmt.Fprintf(w, "      asks: %s\n      (waiting for the answer: kitaru input)\n", indentRest(c.Wait.Question, "        "))
			case c.NotRun:
				fmt.Fprintln(w, "      (not run: asked for on the last turn max_turns allows)")
			case c.Wait != nil && c.ChildRun != "":
				// The question was its child run's; the call's result is
				// the child's output, once the child goes on.
				fmt.Fprintf(w, "      asked: %s\n      answered: %s\n", indentRest(c.Wait.Question, "        "), indentRest(formatOutput(c.Wait.Answer), "        "))
				switch {
				case c.Pending:
					fmt.Fprintln(w, "      (its child run goes on when the run is resumed)")
				case c.Error != nil:
					fmt.Fprintf(w, "      failed after %s: %s\n", fmtDuration(time.Duration(c.DurationMS)*time.Millisecond), indentRest(*c.Error, "        "))
				default:
					fmt.Fprintf(w, "      %s: %s\n", fmtDuration(time.Duration(c.DurationMS)*time.Millisecond), indentRest(formatOutput(c.Output), "        "))
				}
			case c.Pending:
				fmt.Fprintln(w, "      (no result recorded: the run stopped while it ran)")
			case c.Wait != nil:
				fmt.Fprintf(w, "      asked: %s\n      answer: %s\n", indentRest(c.Wait.Question, "        "), indentRest(formatOutput(c.Output), "        "))
			case c.Error != nil:
				fmt.Fprintf(w, "      failed after %s: %s\n", fmtDuration(time.Duration(c.DurationMS)*time.Millisecond), indentRest(*c.Error, "        "))
			default:
				fmt.Fprintf(w, "      %s: %s\n", fmtDuration(time.Duration(c.DurationMS)*time.Millisecond), indentRest(formatOutput(c.Output), "        "))
			}
			if c.ChildRun != "" {
				fmt.Fprintf(w, "      (child run %s)\n", c.ChildRun)
			}
		}
	}
	fmt.Fprintln(w)
	if v.Error != nil {
		fmt.Fprintf(w, "error     %s\n", indentRest(*v.Error, "          "))
	} else if v.Status == runstore.StepCompleted {
		fmt.Fprintf(w, "output    %s\n", indentRest(formatOutput(v.Output), "          "))
	}
	for _, a := range v.Tries {
		how := "succeeded"
		if a.Error != nil {
			how = "failed: " + *a.Error
		}
		fmt.Fprintf(w, "attempt %d %s (%s, %s, %s)\n", a.Attempt, indentRest(how, "          "), fmtDuration(time.Duration(a.DurationMS)*time.Millisecond), fmtUsage(a.Usage), fmtCost(a.CostUSD))
	}
	if len(v.Items) > 0 {
		fmt.Fprintf(w, "items     %d; show one with --item N\n", len(v.Items))
	}
}

// formatOutput is an output as one text: strings as they are, data as JSON.
func formatOutput(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}
