package engine

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/engine")

// normalise replaces what changes from run to run (ids, times, paths,
// fingerprints, durations) with fixed words.
func normalise(s, home, counter string) string {
	s = strings.ReplaceAll(s, home, "$HOME")
	s = strings.ReplaceAll(s, counter, "$COUNTER")
	if wd, err := os.Getwd(); err == nil {
		s = strings.ReplaceAll(s, wd, "$CWD") // a flow with no file runs there
	}
	for _, r := range []struct{ re, to string }{
		{`kr-[0-9a-z]{8}`, "kr-ID"},
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`, "TIME"},
		{`"duration_ms": \d+`, `"duration_ms": 0`},
		{`"active_ms": \d+`, `"active_ms": 1`},
		{`[0-9a-f]{24}`, "FINGERPRINT"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.to)
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("..", "testdata", "engine", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is meant):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestGoldenRecordAndLayout pins the run record and the files of a run,
// which people read and other tools parse.
func TestGoldenRecordAndLayout(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	f := te.flow(`
name: golden
inputs:
  xs: {type: list, default: [1, 2]}
steps:
  shell:
    kind: checkpoint
    run: echo hello
  double:
    kind: checkpoint
    foreach: inputs.xs
    value: ${{ item * 2 }}
  ask:
    kind: llm
    model: fast
    prompt: ${{ steps.shell.output }}
  skipped:
    kind: checkpoint
    if: false
    value: never
output: '${{ {"said": steps.ask.output, "doubled": steps.double.output} }}'
`)
	run := te.start(f, nil)
	wantStatus(t, run, RunCompleted)
	got, err := te.eng.Get(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.MarshalIndent(got, "", "  ")
	golden(t, "record.json", normalise(string(data), te.home, te.counter)+"\n")
	// The record a run ends with is the one Get reads back, field for
	// field (`kitaru run --json` and `executions get --json` print them).
	if started, _ := json.MarshalIndent(run, "", "  "); string(started) != string(data) {
		t.Errorf("the record Start returned differs from Get's:\n%s\nvs\n%s", started, data)
	}

	var files []string
	filepath.Walk(te.home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(te.home, p)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	var buf bytes.Buffer
	for _, f := range files {
		buf.WriteString(f + "\n")
	}
	runJSON, _ := os.ReadFile(filepath.Join(te.files.Root(), run.ID, "run.json"))
	buf.WriteString("\n--- run.json\n")
	buf.Write(runJSON)
	planJSON, _ := os.ReadFile(filepath.Join(te.files.Root(), run.ID, "plan.json"))
	buf.WriteString("\n--- plan.json\n")
	buf.Write(planJSON)
	logTxt, _ := os.ReadFile(filepath.Join(te.files.Root(), run.ID, "log.txt"))
	buf.WriteString("\n--- log.txt\n")
	buf.Write(logTxt)
	golden(t, "layout.txt", normalise(buf.String(), te.home, te.counter))
}
