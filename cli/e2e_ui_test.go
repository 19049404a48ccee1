package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// uiCaller calls the API of the kitaru ui at base with its token, decoding
// the answer into out (nil: none), and returns the HTTP status.
func uiCaller(t *testing.T, base, token string) func(method, path, body string, out any) int {
	return func(method, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				t.Fatalf("%s %s: %s", method, path, data)
			}
		}
		return res.StatusCode
	}
}

func TestE2EUIRefusesBeyondLoopback(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"ui", "--addr", "0.0.0.0:0"}, "add --remote"},
		{[]string{"ui", "--addr", ":0"}, "add --remote"},
		{[]string{"ui", "--addr", "nonsense"}, "is not host:port"},
	}
	for _, c := range cases {
		r := e.must(ExitUsage, c.args...)
		if !strings.Contains(r.Stderr, c.want) {
			t.Errorf("kitaru %s: %s", strings.Join(c.args, " "), r)
		}
	}
}

// kitaru ui over the real store: the API answers with the record shape
// and the words of the command line; a run started from it runs in the
// server, and stopping the server leaves it interrupted, resumable.
func TestE2EUI(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	gate := filepath.Join(e.Dir, "gate")
	e.write("gated.yaml", `name: gated
steps:
  first: {kind: checkpoint, run: echo one}
  gate: {kind: checkpoint, needs: [first], run: 'while [ ! -f `+gate+` ]; do sleep 0.02; done; echo opened'}
`)
	cmd := e.command("ui", "--addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "/?token=") {
		t.Fatalf("kitaru ui printed %q (%v); stderr: %s", line, err, stderr.String())
	}
	url := strings.TrimSpace(line)
	base, token, _ := strings.Cut(url, "/?token=")
	call := uiCaller(t, base, token)

	var e404 struct{ Error, Remedy string }
	if code := call("GET", "/api/runs/kr-none", "", &e404); code != 404 || e404.Remedy != "see `kitaru executions list`" {
		t.Errorf("unknown run: %d %+v", code, e404)
	}
	var started struct{ ID string }
	if code := call("POST", "/api/runs", `{"flow": "gated.yaml"}`, &started); code != 202 {
		t.Fatalf("start: %d %+v; stderr: %s", code, started, stderr.String())
	}
	waitFor(t, "the gate step running", func() bool {
		var run struct {
			Steps []struct{ ID, Status string }
		}
		call("GET", "/api/runs/"+started.ID, "", &run)
		return len(run.Steps) == 2 && run.Steps[1].Status == "running"
	})
	// One step whole, in the shape of `executions get --step --json`,
	// which the page reads.
	var step struct {
		Step   string
		Record struct{ Status, Output string }
	}
	if code := call("GET", "/api/runs/"+started.ID+"/steps/first", "", &step); code != 200 || step.Step != "first" || step.Record.Output != "one" {
		t.Errorf("step: %d %+v", code, step)
	}
	// The run is the server's: `kitaru resume` from a shell is refused.
	if r := e.run("resume", started.ID); r.Code == 0 || !strings.Contains(r.Stderr, "being run by") {
		t.Errorf("resume while the server runs it: %s", r)
	}

	// Stopping the server interrupts the run; it is resumable.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kitaru ui after SIGINT: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kitaru ui did not stop on SIGINT")
	}
	if want := "`kitaru resume " + started.ID + "` continues it"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
	if r := e.must(0, "executions", "get", started.ID, "--json"); !strings.Contains(r.Stdout, `"status": "interrupted"`) {
		t.Errorf("after the server stopped: %s", r)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.must(0, "resume", started.ID)
}
