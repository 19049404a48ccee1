package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
)

const testPEM = "-----BEGIN TEST KEY-----\n" +
	"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n" +
	"q8Zr2Xk3nVbY0pLwT6sF1uJcH9dM4eA5gR7iO2tQyWzNxKvBmUo\n" +
	"-----END TEST KEY-----"

func TestRedactorRule(t *testing.T) {
	t.Parallel()
	red := newRedactor([]string{testPEM, "1", "short", "tok-0123456789", "  {\n  \"k\": \"json-cred-value-0123\"\n  }", `pa"ss\word`})
	for _, tt := range []struct{ name, in, want string }{
		{"whole multi-line value", "key:\n" + testPEM + "\nend", "key:\n***\nend"},
		{"one line of it alone", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7 was line 2", "*** was line 2"},
		{"a string of a JSON credential reindented", "\t\"k\": \"json-cred-value-0123\"", "\t\"k\": \"***\""},
		{"its CRLF lines, armor kept", strings.ReplaceAll(testPEM, "\n", "\r\n"), "-----BEGIN TEST KEY-----\r\n***\r\n***\r\n-----END TEST KEY-----"},
		{"a value too short to mask", "1 + 1 = 2", "1 + 1 = 2"},
		{"five characters are still too short", "short and sweet", "short and sweet"},
		{"a single-line value", "token=tok-0123456789;", "token=***;"},
		{"lines too short of a multi-line value", "{\n}", "{\n}"},
		{"a value inside a JSON string", `{"p":"pa\"ss\\word","k":"` + strings.ReplaceAll(testPEM, "\n", `\n`) + `"}`, `{"p":"***","k":"***"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := red.str(tt.in); got != tt.want {
				t.Errorf("str(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A stream cut anywhere logs what masking the whole text would record.
func TestRedactStreamMatchesWholeText(t *testing.T) {
	t.Parallel()
	secrets := []string{"ab\ncd\nef\ngh", "tok-0123456789", "tok-01234567", "xyzxyz"}
	red := newRedactor(secrets)
	for _, text := range []string{
		"before ab\ncd\nef\ngh after\n",
		"tok-0123456789\ntok-01234567 tok-012\n",
		"xyzxyzxyzxyz\nxyzxy",
		"ab\ncd\nef\ngX tail",
		"plain text without any secret\n",
	} {
		want := red.str(text)
		for cut := 0; cut <= len(text); cut++ {
			for cut2 := cut; cut2 <= len(text); cut2++ {
				s := redactStream{r: red}
				got := string(s.next([]byte(text[:cut]))) + string(s.next([]byte(text[cut:cut2]))) +
					string(s.next([]byte(text[cut2:]))) + string(s.rest())
				if got != want {
					t.Fatalf("%q cut at %d and %d logs %q, want %q", text, cut, cut2, got, want)
				}
			}
		}
	}
}

// Without secrets the stream hands every chunk through untouched.
func TestRedactStreamWithoutSecrets(t *testing.T) {
	t.Parallel()
	s := redactStream{r: newRedactor(nil)}
	if got := string(s.next([]byte("abc"))) + string(s.rest()); got != "abc" {
		t.Fatalf("got %q", got)
	}
}

// A run: step's secrets stay out of log.txt, output and records however
// the command prints them, and a value too short to mask changes nothing.
func TestRedactionOfMultiLineSplitAndShortSecrets(t *testing.T) {
	t.Parallel()
	home, eng, run := runWithSecrets(t, fakeSecrets{
		"key":  {"PEM": testPEM, "TOKEN": "tok-0123456789", "SHORTLINES": "ab\ncd\nef\ngh"},
		"tiny": {"N": "1"},
	}, `
name: leaks
steps:
  whole:
    kind: checkpoint
    secrets: [key]
    run: printf '%s\n' "$PEM"; printf '%s\n' "$PEM" >&2
  oneline:
    kind: checkpoint
    secrets: [key]
    run: printf '%s\n' "$PEM" | sed -n 3p
  halves:
    kind: checkpoint
    secrets: [key]
    run: t=$TOKEN; printf 'x %s' "${t%???????}"; sleep 0.2; printf '%s y\n' "${t#???????}"
  pemsplit:
    kind: checkpoint
    secrets: [key]
    run: printf '%s\n' "$PEM" | head -2; sleep 0.2; printf '%s\n' "$PEM" | tail -2
  shortlines:
    kind: checkpoint
    secrets: [key]
    run: printf 'ab\ncd\n' >&2; sleep 0.2; printf 'ef\ngh\n' >&2
  counting:
    kind: checkpoint
    secrets: [tiny]
    run: echo "1 + 1 = 2, N=$N"
  next:
    kind: checkpoint
    value: ${{ steps.counting.output }}
`)
	for id, want := range map[string]string{"whole": "***", "oneline": "***", "halves": "x *** y", "pemsplit": "***",
		"counting": "1 + 1 = 2, N=1", "next": "1 + 1 = 2, N=1"} {
		if got := step(t, run, id).Output; got != want {
			t.Errorf("step %s output %q, want %q", id, got, want)
		}
	}
	for id, want := range map[string]bool{"whole": true, "halves": true, "shortlines": false, "counting": false, "next": false} {
		if got := step(t, run, id).Masked; got != want {
			t.Errorf("step %s masked = %v, want %v", id, got, want)
		}
	}
	lines := map[string][]string{}
	err := eng.Logs(t.Context(), run.ID, "", false, func(l LogLine) error {
		lines[l.Step] = append(lines[l.Step], l.Text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines["shortlines"], "\n"); strings.Contains(got, "ab\ncd\nef\ngh") {
		t.Errorf("the log of shortlines holds the whole secret:\n%s", got)
	}
	if got := strings.Join(lines["counting"], "\n"); !strings.Contains(got, "1 + 1 = 2, N=1") ||
		!strings.Contains(got, `secret "tiny" key N`) {
		t.Errorf("the log of counting should keep its output and say that N cannot be masked:\n%s", got)
	}
	if got := strings.Join(lines["whole"], "\n"); !strings.Contains(got, "replaced by ***") {
		t.Errorf("the log of whole does not say its output was masked:\n%s", got)
	}
	pemLines := strings.Split(testPEM, "\n")
	notOnDisk(t, home, append(pemLines, "tok-0123456789"))
}

// runWithSecrets runs a flow to completion with the given secret store,
// in a home of its own.
func runWithSecrets(t *testing.T, secrets fakeSecrets, src string) (string, *Engine, *Run) {
	t.Helper()
	home := t.TempDir()
	eng := New(Config{Store: filestore.New(home), Secrets: secrets})
	f, err := flowspec.Parse("secrets.yaml", []byte(src), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := eng.Start(context.Background(), StartOptions{Flow: f})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
	return home, eng, run
}

// notOnDisk fails t for each file under home holding one of vals.
func notOnDisk(t *testing.T, home string, vals []string) {
	t.Helper()
	filepath.Walk(home, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		for _, v := range vals {
			if strings.Contains(string(data), v) {
				t.Errorf("%s holds %q", p, v)
			}
		}
		return nil
	})
}

// The masking a command's output gets on its way to the log, per 32 KiB
// chunk: the stream (what is new) against masking the chunk as text (what
// the log did before, line by line).
func BenchmarkRedactStream(b *testing.B) {
	chunk := []byte(strings.Repeat("2026-12-01 12:00:00 INFO request served in 12ms, id=8c1f0e2a\n", 32<<10/61))
	for _, bc := range []struct {
		name    string
		secrets []string
	}{
		{"none", nil},
		{"token", []string{"tok-0123456789abcdef"}},
		{"pem", []string{testPEM}},
	} {
		red := newRedactor(bc.secrets)
		b.Run(bc.name+"/stream", func(b *testing.B) {
			s := redactStream{r: red}
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				s.next(chunk)
			}
		})
		b.Run(bc.name+"/text", func(b *testing.B) {
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				red.str(string(chunk))
			}
		})
	}
}

// testServiceAccount is a Google service-account credential, the JSON
// object whose parts a command may print: its private_key holds a PEM key
// written with \n escapes.
const testServiceAccount = `{
  "type": "service_account",
  "project_id": "my-project",
  "private_key_id": "3f9a1c0e7b2d4a6f8e1c3b5d7f9a0c2e4b6d8f1a",
  "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDf4kP2xQ\nZr8Yq1Lw3NtVbH6sJcM9dE2fA7gR5iO4tUyWzNxKvBmUoPq0aS1dF2gH3jK\n-----END PRIVATE KEY-----\n",
  "client_email": "runner@my-project.iam.gserviceaccount.com",
  "client_id": "104857362910475839201",
  "auth_uri": "https://accounts.google.com/o/oauth2/auth",
  "token_uri": "https://oauth2.googleapis.com/token",
  "universe_domain": "googleapis.com"
}`

const (
	saBody1 = "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDf4kP2xQ"
	saBody2 = "Zr8Yq1Lw3NtVbH6sJcM9dE2fA7gR5iO4tUyWzNxKvBmUoPq0aS1dF2gH3jK"
	saKey   = "-----BEGIN PRIVATE KEY-----\n" + saBody1 + "\n" + saBody2 + "\n-----END PRIVATE KEY-----\n"
)

// The parts of a credential are masked on their own only when they are
// key material: ordinary data that shares a word, a line or a URL with a
// credential is left as it is.
func TestRedactorFragmentsOfCredentials(t *testing.T) {
	t.Parallel()
	red := newRedactor([]string{testPEM, testServiceAccount})
	for _, tt := range []struct{ name, in, want string }{
		{"ordinary JSON naming the same type", `{"type": "service_account", "project_id": "my-project"}`,
			`{"type": "service_account", "project_id": "my-project"}`},
		{"PEM armor elsewhere", "-----BEGIN PRIVATE KEY-----\n-----END TEST KEY-----\n-----BEGIN TEST KEY-----",
			"-----BEGIN PRIVATE KEY-----\n-----END TEST KEY-----\n-----BEGIN TEST KEY-----"},
		{"the public URLs of the credential", "see https://accounts.google.com/o/oauth2/auth and https://oauth2.googleapis.com/token",
			"see https://accounts.google.com/o/oauth2/auth and https://oauth2.googleapis.com/token"},
		{"short strings of it", "googleapis.com my-project", "googleapis.com my-project"},
		{"jq -r .private_key", saKey + "\n", "***\n"},
		{"one line of the key", "line: " + saBody2 + "\n", "line: ***\n"},
		{"the key re-wrapped", "-----BEGIN PRIVATE KEY-----\r\n" + saBody1 + "\r\n" + saBody2 + "\r\n-----END PRIVATE KEY-----",
			"-----BEGIN PRIVATE KEY-----\r\n***\r\n***\r\n-----END PRIVATE KEY-----"},
		{"its key id, email and client id", "3f9a1c0e7b2d4a6f8e1c3b5d7f9a0c2e4b6d8f1a runner@my-project.iam.gserviceaccount.com 104857362910475839201",
			"*** *** ***"},
		{"the credential compacted", `{"type":"service_account","private_key":"` + strings.ReplaceAll(saKey, "\n", `\n`) + `","auth_uri":"https://accounts.google.com/o/oauth2/auth"}`,
			`{"type":"service_account","private_key":"***","auth_uri":"https://accounts.google.com/o/oauth2/auth"}`},
		{"the whole credential", "cred: " + testServiceAccount, "cred: ***"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := red.str(tt.in); got != tt.want {
				t.Errorf("str(%q)\n = %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// A step whose credential is a service-account file: printing the key
// with jq writes none of its lines, and ordinary JSON output that shares
// the credential's words is valid JSON, unmasked, for the next step.
func TestServiceAccountPartsMaskedOrdinaryDataNot(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq is not installed")
	}
	home, _, run := runWithSecrets(t, fakeSecrets{"gcp": {"SA": testServiceAccount}}, `
name: sa
steps:
  key:
    kind: checkpoint
    secrets: [gcp]
    run: printf '%s' "$SA" | jq -r .private_key; printf '%s' "$SA" | jq -r .private_key >&2
  bodyline:
    kind: checkpoint
    secrets: [gcp]
    run: printf '%s' "$SA" | jq -r .private_key | sed -n 2p
  data:
    kind: checkpoint
    secrets: [gcp]
    run: |
      echo '{"type": "service_account", "project_id": "my-project"}'
    output: json
  next:
    kind: checkpoint
    value: ${{ steps.data.output.type }}
`)
	for id, want := range map[string]string{"key": "***", "bodyline": "***", "next": "service_account"} {
		if got := step(t, run, id).Output; got != want {
			t.Errorf("step %s output %q, want %q", id, got, want)
		}
	}
	if s := step(t, run, "data"); s.Masked || !reflect.DeepEqual(s.Output, map[string]any{"type": "service_account", "project_id": "my-project"}) {
		t.Errorf("data: masked %v, output %#v", s.Masked, s.Output)
	}
	notOnDisk(t, home, []string{saBody1, saBody2})
}

// A step's output is masked once, and reports it: a secret a command
// writes with JSON escapes is masked in the decoded output:json value and
// the step says masked; text that reads as a secret only after masking
// stays as masking once gives.
func TestOutputMaskedOnceAndReported(t *testing.T) {
	t.Parallel()
	_, _, run := runWithSecrets(t, fakeSecrets{"k": {"TOKEN": "tok-0123456789", "OTHER": "pre-***-post-x"}}, `
name: once
steps:
  escaped:
    kind: checkpoint
    secrets: [k]
    run: printf '{"k":"\\u0074ok-0123456789"}'
    output: json
  text:
    kind: checkpoint
    secrets: [k]
    run: echo "pre-$TOKEN-post-x"
`)
	if s := step(t, run, "escaped"); !s.Masked || !reflect.DeepEqual(s.Output, map[string]any{"k": "***"}) {
		t.Errorf("escaped: masked %v, output %#v", s.Masked, s.Output)
	}
	if s := step(t, run, "text"); !s.Masked || s.Output != "pre-***-post-x" {
		t.Errorf("text: masked %v, output %#v", s.Masked, s.Output)
	}
}

// with is built once per set of values added, however many calls (and
// foreach items, at once) add the same key.
func TestRedactorWithIsCached(t *testing.T) {
	t.Parallel()
	base := newRedactor([]string{"base-secret-1"})
	first := base.with([]string{"sk-key-0123456789"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := base.with([]string{"sk-key-0123456789"}); r != first {
				t.Error("with built a new redactor for the same key")
			}
		})
	}
	wg.Wait()
	if other := base.with([]string{"sk-other-0123456789"}); other == first || other.str("sk-other-0123456789 base-secret-1") != "*** ***" {
		t.Error("with of another key is not its own")
	}
	if base.with([]string{"base-secret-1"}) != base {
		t.Error("with of a value already masked is not the redactor itself")
	}
}
