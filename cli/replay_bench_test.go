package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkCLIReplay is `kitaru replay RUN --from LAST` run in
// process, as a user runs it: the command loads the run's flow snapshot and
// the engine reuses every step but the last. Issue 11's goal is that
// replaying the last step of a 1,000-step run costs at most 2× replaying a
// 1-step run (issue 3's was 3×). steps=1 and steps=1000 give each figure; ratio replays both
// in turn, so that both see the same machine load, and reports x-ratio;
// ratio-binary does the same through the built binary.
func BenchmarkCLIReplay(b *testing.B) {
	root := b.TempDir()
	b.Setenv("KITARU_HOME", filepath.Join(root, "home"))
	b.Setenv("XDG_CONFIG_HOME", filepath.Join(root, "config"))
	b.Setenv("XDG_DATA_HOME", filepath.Join(root, "data"))
	b.Setenv("NO_COLOR", "1")
	one := cliChainRun(b, root, 1)
	thousand := cliChainRun(b, root, 1000)
	b.Run("steps=1", func(b *testing.B) {
		for b.Loop() {
			cliReplay(b, one, "s0")
		}
	})
	b.Run("steps=1000", func(b *testing.B) {
		for b.Loop() {
			cliReplay(b, thousand, "s999")
		}
	})
	b.Run("ratio", func(b *testing.B) {
		var t1, t1000 time.Duration
		for b.Loop() {
			start := time.Now()
			cliReplay(b, one, "s0")
			mid := time.Now()
			cliReplay(b, thousand, "s999")
			t1, t1000 = t1+mid.Sub(start), t1000+time.Since(mid)
		}
		b.ReportMetric(float64(t1.Nanoseconds())/float64(b.N), "ns/replay-1step")
		b.ReportMetric(float64(t1000.Nanoseconds())/float64(b.N), "ns/replay-1000steps")
		b.ReportMetric(float64(t1000)/float64(t1), "x-ratio")
	})
	// The same through the built binary, as a shell runs it: the
	// process's start is part of the command a user waits for.
	b.Run("ratio-binary", func(b *testing.B) {
		bin := kitaruBinary(b)
		replay := func(id, from string) time.Duration {
			cmd := exec.Command(bin, "replay", id, "--from", from, "--quiet")
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kitaru replay: %v\n%s", err, out)
			}
			return time.Since(start)
		}
		var t1, t1000 time.Duration
		for b.Loop() {
			t1 += replay(one, "s0")
			t1000 += replay(thousand, "s999")
		}
		b.ReportMetric(float64(t1.Nanoseconds())/float64(b.N), "ns/replay-1step")
		b.ReportMetric(float64(t1000.Nanoseconds())/float64(b.N), "ns/replay-1000steps")
		b.ReportMetric(float64(t1000)/float64(t1), "x-ratio")
	})
}

// cliChainRun runs a chain of n checkpoint steps with `kitaru run` and
// returns the run's id.
func cliChainRun(b *testing.B, dir string, n int) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("name: chain\nsteps:\n  s0:\n    kind: checkpoint\n    value: ${{ 0 }}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "  s%d:\n    kind: checkpoint\n    value: ${{ steps.s%d.output + 1 }}\n", i, i-1)
	}
	fmt.Fprintf(&sb, "output: ${{ steps.s%d.output }}\n", n-1)
	file := filepath.Join(dir, fmt.Sprintf("chain%d.yaml", n))
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := runContext(context.Background(), []string{"run", file, "--json"}, IO{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader("")}); code != 0 {
		b.Fatalf("kitaru run: exit %d\n%s", code, errOut.String())
	}
	var rec struct {
		ID     string `json:"id"`
		Output any    `json:"output"`
	}
	if err := json.Unmarshal([]byte(out.String()), &rec); err != nil || rec.ID == "" {
		b.Fatalf("kitaru run --json gave %q: %v", out.String(), err)
	}
	if fmt.Sprint(rec.Output) != fmt.Sprint(n-1) {
		b.Fatalf("the chain's output is %v, want %d", rec.Output, n-1)
	}
	return rec.ID
}

func cliReplay(b *testing.B, id, from string) {
	var errOut strings.Builder
	args := []string{"replay", id, "--from", from}
	if code := runContext(context.Background(), args, IO{Stdout: io.Discard, Stderr: &errOut, Stdin: strings.NewReader("")}); code != 0 {
		b.Fatalf("kitaru replay: exit %d\n%s", code, errOut.String())
	}
}
