package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaruhq/kitaru/flowspec"
)

const testPEM = "-----BEGIN TEST KEY-----\n" +
	"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n" +
	"q8Zr2Xk3nVbY0pLwT6sF1uJcH9dM4eA5gR7iO2tQyWzNxKvBmUo\n" +
	"-----END TEST KEY-----"

func TestRedactorRule(t *testing.T) {
	t.Parallel()
	red := newRedactor([]string{testPEM, "1", "short", "tok-0123456789", "  {\n  \"k\": \"json-cred-value\"\n  }", `pa"ss\word`})
	for _, tt := range []struct{ name, in, want string }{
		{"whole multi-line value", "key:\n" + testPEM + "\nend", "key:\n***\nend"},
		{"one line of it alone", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7 was line 2", "*** was line 2"},
		{"a line of it reindented", "\t\"k\": \"json-cred-value\"", "\t***"},
		{"its CRLF lines", strings.ReplaceAll(testPEM, "\n", "\r\n"), "***\r\n***\r\n***\r\n***"},
		{"a value too short to mask", "1 + 1 = 2", "1 + 1 = 2"},
		{"five characters are still too short", "short and sweet", "short and sweet"},
		{"a single-line value", "token=tok-0123456789;", "token=***;"},
		{"lines too short of a multi-line value", "{\n}", "{\n}"},
		{"a value inside a JSON string", `{"p":"pa\"ss\\word","k":"-----BEGIN TEST KEY-----\nMII"}`, `{"p":"***","k":"***\nMII"}`},
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
	home := t.TempDir()
	store := NewFileStore(home)
	eng := New(Config{Store: store, Secrets: fakeSecrets{
		"key":  {"PEM": testPEM, "TOKEN": "tok-0123456789", "SHORTLINES": "ab\ncd\nef\ngh"},
		"tiny": {"N": "1"},
	}})
	f, err := flowspec.Parse("leaks.yaml", []byte(`
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
`), flowspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := eng.Start(context.Background(), StartOptions{Flow: f})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, RunCompleted)
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
	err = eng.Logs(t.Context(), run.ID, "", false, func(l LogLine) error {
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
	filepath.Walk(home, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		for _, v := range append(pemLines, "tok-0123456789") {
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
