package engine

import (
	"encoding/json"
	"math"
	"reflect"
	"sort"

	"github.com/kitaruhq/kitaru/providers"
)

// RunDiff is how two run records differ: their inputs, and step by step
// what each step was given, which model answered, what it gave, and what
// it used and cost. Diff makes it from two records (as Get returns them);
// the words for people are the front end's.
type RunDiff struct {
	A      DiffRun        `json:"a"`
	B      DiffRun        `json:"b"`
	Same   bool           `json:"same"` // no input and no step differs
	Inputs []InputDiff    `json:"inputs"`
	Steps  []StepDiff     `json:"steps"`
	Usage  [2]UsageTotals `json:"usage"` // the runs' totals, A then B
}

// DiffRun names one of the two runs.
type DiffRun struct {
	ID       string    `json:"id"`
	Flow     string    `json:"flow"`
	Status   RunStatus `json:"status"`
	ReplayOf *string   `json:"replay_of"`
}

// UsageTotals is what a run used and cost.
type UsageTotals struct {
	Usage   providers.Usage `json:"usage"`
	CostUSD float64         `json:"cost_usd"`
}

// InputDiff is an input the runs were given differently; a run without it
// has no value (InA, InB false).
type InputDiff struct {
	Name string `json:"name"`
	A    any    `json:"a"`
	B    any    `json:"b"`
	InA  bool   `json:"in_a"`
	InB  bool   `json:"in_b"`
}

// The parts of a step a diff compares.
const (
	DiffStatus = "status"
	DiffInputs = "inputs" // its definition or what it read (the fingerprints differ)
	DiffModel  = "model"
	DiffOutput = "output"
	DiffError  = "error"
	DiffUsage  = "usage"
	DiffCost   = "cost"
)

// StepDiff is one step of either run: which parts differ (none: the same),
// and each run's side of it (nil: the run has no such step).
type StepDiff struct {
	ID      string    `json:"id"`
	Differs []string  `json:"differs"`
	A       *DiffSide `json:"a"`
	B       *DiffSide `json:"b"`
}

// DiffSide is a step as one run recorded it.
type DiffSide struct {
	Status      StepStatus      `json:"status"`
	Reused      bool            `json:"reused"`
	Model       string          `json:"model,omitempty"`
	Output      any             `json:"output"`
	Error       *string         `json:"error"`
	Usage       providers.Usage `json:"usage"`
	CostUSD     *float64        `json:"cost_usd"`
	Fingerprint string          `json:"fingerprint,omitempty"`
}

// Diff compares run a with run b, steps in a's order, then those only b has.
func Diff(a, b *Run) *RunDiff {
	d := &RunDiff{
		A:      DiffRun{ID: a.ID, Flow: a.Flow, Status: a.Status, ReplayOf: a.ReplayOf},
		B:      DiffRun{ID: b.ID, Flow: b.Flow, Status: b.Status, ReplayOf: b.ReplayOf},
		Inputs: []InputDiff{}, Steps: []StepDiff{},
		Usage: [2]UsageTotals{{a.Usage, a.CostUSD}, {b.Usage, b.CostUSD}},
	}
	names := map[string]bool{}
	for k := range a.Inputs {
		names[k] = true
	}
	for k := range b.Inputs {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		va, inA := a.Inputs[k]
		vb, inB := b.Inputs[k]
		if inA != inB || !sameValue(va, vb) {
			d.Inputs = append(d.Inputs, InputDiff{Name: k, A: va, B: vb, InA: inA, InB: inB})
		}
	}
	bSteps := map[string]*StepResult{}
	for i := range b.Steps {
		bSteps[b.Steps[i].ID] = &b.Steps[i]
	}
	seen := map[string]bool{}
	for i := range a.Steps {
		s := &a.Steps[i]
		seen[s.ID] = true
		d.Steps = append(d.Steps, diffStep(s.ID, s, bSteps[s.ID]))
	}
	for i := range b.Steps {
		if s := &b.Steps[i]; !seen[s.ID] {
			d.Steps = append(d.Steps, diffStep(s.ID, nil, s))
		}
	}
	d.Same = len(d.Inputs) == 0
	for _, s := range d.Steps {
		d.Same = d.Same && len(s.Differs) == 0
	}
	return d
}

func sideOf(s *StepResult) *DiffSide {
	if s == nil {
		return nil
	}
	out, err := OutputValue(s.Output)
	if err != nil {
		out = nil // a record that cannot be read: its step's error says so
	}
	return &DiffSide{Status: s.Status, Reused: s.Reused, Model: s.Model, Output: out, Error: s.Error,
		Usage: s.Usage, CostUSD: s.CostUSD, Fingerprint: s.Fingerprint}
}

func diffStep(id string, a, b *StepResult) StepDiff {
	d := StepDiff{ID: id, Differs: []string{}, A: sideOf(a), B: sideOf(b)}
	if d.A == nil || d.B == nil {
		d.Differs = append(d.Differs, DiffStatus)
		return d
	}
	x, y := d.A, d.B
	add := func(differs bool, what string) {
		if differs {
			d.Differs = append(d.Differs, what)
		}
	}
	add(x.Status != y.Status, DiffStatus)
	add(x.Fingerprint != "" && y.Fingerprint != "" && x.Fingerprint != y.Fingerprint, DiffInputs)
	add(x.Model != y.Model, DiffModel)
	add(!sameValue(x.Output, y.Output), DiffOutput)
	add((x.Error == nil) != (y.Error == nil) || x.Error != nil && *x.Error != *y.Error, DiffError)
	add(x.Usage != y.Usage, DiffUsage)
	add(!sameCost(x.CostUSD, y.CostUSD), DiffCost)
	return d
}

// sameValue compares values as their JSON says them: a record read back
// has float64 numbers where a fresh one may have ints.
func sameValue(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	var va, vb any
	if json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return string(ja) == string(jb)
	}
	return reflect.DeepEqual(va, vb)
}

// sameCost: both unknown, or within a millionth of a cent.
func sameCost(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) < 1e-8
}
