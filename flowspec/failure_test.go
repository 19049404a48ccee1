package flowspec

import (
	"testing"
)

const statusFlow = `name: status
steps:
  risky: {kind: checkpoint, run: exit 1, continue_on_error: true}
  plain: {kind: checkpoint, run: "true"}
  implied: {kind: checkpoint, if: 'steps.risky.status == "failed"', value: 1}
  ok: {kind: checkpoint, needs: [plain], if: success(), value: 1}
  cleanup: {kind: checkpoint, needs: [plain], if: failure(), value: 1}
  report: {kind: checkpoint, needs: [plain], if: '${{ always() && steps.plain.error == "" }}', value: 1}
  inverse: {kind: checkpoint, needs: [plain], if: '!failure()', value: 1}
  words: {kind: checkpoint, needs: [plain], if: 'steps.plain.output == "always()"', value: 1}
`

// Which ifs are decided after a failure, loaded fully and lazily alike, and
// what the status functions give.
func TestStatusFunctions(t *testing.T) {
	t.Parallel()
	full, err := Parse("status.yaml", []byte(statusFlow), Options{})
	if err != nil {
		t.Fatal(err)
	}
	lazy, err := Parse("status.yaml", []byte(statusFlow), Options{Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		afterFailure  bool
		clean, failed bool // the if's value with no failure upstream, and with one
	}
	tests := map[string]want{
		"implied": {false, true, true}, // success() is the engine's to imply
		"ok":      {false, true, false},
		"cleanup": {true, false, true},
		"report":  {true, true, true},
		"inverse": {true, true, false},
		"words":   {false, false, false},
	}
	failedState := StepState{Status: "failed", Error: "boom"}
	for id, w := range tests {
		for name, f := range map[string]*Flow{"full": full, "lazy": lazy} {
			t.Run(id+"/"+name, func(t *testing.T) {
				t.Parallel()
				s := f.Step(id)
				if s.IfAfterFailure != w.afterFailure {
					t.Errorf("IfAfterFailure %v, want %v", s.IfAfterFailure, w.afterFailure)
				}
				steps := map[string]StepState{"plain": {Status: "completed", Output: ""}, "risky": failedState}
				for failed, want := range map[bool]bool{false: w.clean, true: w.failed} {
					got, err := s.If.Bool(&Scope{Steps: steps, Failed: failed})
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Errorf("with a failure upstream %v: %v, want %v", failed, got, want)
					}
				}
			})
		}
	}
	if !full.Step("risky").ContinueOnError || full.Step("plain").ContinueOnError {
		t.Error("continue_on_error is not read")
	}
}
