package flowspec

import (
	"encoding/json"
	"testing"
	"time"
)

// TestFingerprintJSONMatchesEncodingJSON: the hand-written encoding of a
// fingerprint document is byte for byte what encoding/json gives, so
// fingerprints recorded by earlier runs still match.
func TestFingerprintJSONMatchesEncodingJSON(t *testing.T) {
	str := func(s string) *string { return &s }
	temp := 0.7
	tiny := 1e-9
	docs := []fingerprintDoc{
		{V: 1, Kind: KindCheckpoint, Retry: Retry{Attempts: 1, Backoff: time.Second}},
		{V: 1, Kind: KindLLM, Needs: []string{"a", "b-c"}, If: `steps.a.status == "completed"`, Retry: Retry{3, 2 * time.Second},
			Timeout: int64(time.Minute), Foreach: "inputs.tags", OutputJSON: true, Model: "fast", System: "Be <brief> & kind",
			Prompt: str("Line one\nLine\ttwo \"quoted\" \\ back"), Messages: [][2]string{{"user", "héllo ✓"}, {"assistant", "\x01\b\f\r\u2028"}},
			Temp: &temp, MaxTokens: 100},
		{V: 1, Kind: KindLLM, Prompt: str(""), Temp: &tiny, Retry: Retry{Attempts: 1}},
		{V: 1, Kind: KindCheckpoint, Run: str("echo ${{ item }} > /tmp/x"), Stdin: "in", Env: [][2]string{{"A", "1"}, {"B", "\xff bad utf8"}},
			Dir: "/tmp", Secrets: []string{"webhook"}, Retry: Retry{Attempts: 2, Backoff: 1500 * time.Millisecond}},
		{V: 1, Kind: KindCheckpoint, Value: str("${{ steps.a.output + 1 }}")},
		{V: 1, Kind: KindWait, Question: "Ship it?\x7f"},
	}
	for name, data := range lazyCases(t) {
		f, err := Parse(name, data, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range f.Steps {
			docs = append(docs, fingerprintDocOf(s))
		}
	}
	fast := 0
	for i, d := range docs {
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := d.appendJSON(nil)
		if !ok {
			continue
		}
		fast++
		if string(got) != string(want) {
			t.Errorf("doc %d:\n got %s\nwant %s", i, got, want)
		}
	}
	if fast < len(docs)/2 {
		t.Errorf("only %d of %d documents took the fast path", fast, len(docs))
	}
}
