package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// The --json output of the run commands, compared with golden files under
// testdata/cli/ after run ids, times, durations and paths are normalised
// (go test ./cli -run JSONGolden -update rewrites them).

const goldenFlow = `name: golden
description: A deterministic flow for the --json goldens.
inputs:
  topic: {type: string, default: agents}
  words: {type: integer, default: 3}
steps:
  research:
    kind: checkpoint
    run: printf 'notes on %s' "${{ inputs.topic }}"
  count:
    kind: checkpoint
    output: json
    run: |
      echo '{"words": '"${{ inputs.words }}"'}'
  report:
    kind: checkpoint
    value: '${{ {"notes": steps.research.output, "words": steps.count.output.words} }}'
  never:
    kind: checkpoint
    if: inputs.words > 100
    value: unused
output: ${{ steps.report.output }}
`

// normaliseRecord makes a --json output comparable: ids become their role,
// times and durations fixed values, paths relative to the test dirs.
func normaliseRecord(t *testing.T, e *e2e, out string, ids map[string]string) string {
	t.Helper()
	for id, name := range ids {
		out = strings.ReplaceAll(out, id, name)
	}
	out = strings.ReplaceAll(out, e.Home, "$KITARU_HOME")
	out = strings.ReplaceAll(out, e.Dir, "$WORK")
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if _, run := x["steps"]; run {
				// A run's active time; a quick one's may round to 0 ms,
				// which the record leaves out.
				x["active_ms"] = "MS"
			}
			for k, val := range x {
				switch k {
				case "started_at", "ended_at", "time":
					if val != nil {
						x[k] = "TIME"
					}
				case "duration_ms":
					x[k] = 0
				case "active_ms":
				case "fingerprint":
					x[k] = "FINGERPRINT"
				default:
					x[k] = walk(val)
				}
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return v
	}
	b, err := json.MarshalIndent(walk(v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestE2EJSONGolden(t *testing.T) {
	e := newE2E(t)
	requireEngine(t, e)
	flow := e.flow("golden.yaml", goldenFlow)

	r := e.must(0, "run", flow, "--json", "--input", "topic=durable agents")
	first := decodeRun(t, r.Stdout)
	if !strings.Contains(r.Stderr, first.ID) {
		t.Errorf("with --json the run id goes to stderr; stderr:\n%s", r.Stderr)
	}
	ids := map[string]string{first.ID: "kr-FIRST"}
	ran := normaliseRecord(t, e, r.Stdout, ids)
	checkGolden(t, "cli/run.json.golden", ran)

	r = e.must(0, "replay", first.ID, "--from", "report", "--json", "--quiet")
	replay := decodeRun(t, r.Stdout)
	ids[replay.ID] = "kr-REPLAY"
	checkGolden(t, "cli/replay_from.json.golden", normaliseRecord(t, e, r.Stdout, ids))

	// executions get prints exactly the record the run printed, additions
	// (such as the run's directory) included.
	if first.Dir != filepath.Join(e.Home, "runs", first.ID) {
		t.Errorf("run --json names the run's files %q, want %q", first.Dir, filepath.Join(e.Home, "runs", first.ID))
	}
	r = e.must(0, "executions", "get", first.ID, "-o", "json")
	if got := normaliseRecord(t, e, r.Stdout, ids); got != ran {
		t.Errorf("executions get --json differs from run --json:\n%s\nvs\n%s", got, ran)
	}

	r = e.must(0, "executions", "list", "--json")
	checkGolden(t, "cli/list.json.golden", normaliseRecord(t, e, r.Stdout, ids))

	// Run references: an ambiguous prefix lists the candidates, an unknown
	// one says where to look; both are usage errors.
	r = e.must(2, "executions", "get", "kr-")
	if !strings.Contains(r.Stderr, first.ID) || !strings.Contains(r.Stderr, replay.ID) {
		t.Errorf("an ambiguous prefix does not list the candidates:\n%s", r.Stderr)
	}
	r = e.must(2, "resume", "kr-nosuchrun")
	if !strings.Contains(r.Stderr, "kitaru executions list") {
		t.Errorf("an unknown run does not point at executions list:\n%s", r.Stderr)
	}
	if prefix := first.ID[:len(first.ID)-2]; !strings.HasPrefix(replay.ID, prefix) {
		if got := e.record(prefix).ID; got != first.ID {
			t.Errorf("the unique prefix %s resolved to %s, want %s", prefix, got, first.ID)
		}
	}
}
