package flowspec

import (
	"encoding/json"
	"reflect"
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
			Timeout: int64(time.Minute), Foreach: "inputs.tags", OutputJSON: true, Continue: true, Model: "fast", System: "Be <brief> & kind",
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

// TestFingerprintJSONCoversEveryField sets each field of the document alone
// and compares: a field added to fingerprintDoc but not to appendJSON would
// drop out of the hash, and a replay would reuse a step whose definition
// changed.
func TestFingerprintJSONCoversEveryField(t *testing.T) {
	typ := reflect.TypeOf(fingerprintDoc{})
	for i := range typ.NumField() {
		field := typ.Field(i)
		var d fingerprintDoc
		v := reflect.ValueOf(&d).Elem().Field(i)
		if !setSample(v) {
			t.Fatalf("field %s: the test has no sample for %s; teach setSample", field.Name, field.Type)
		}
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := d.appendJSON(nil)
		if !ok {
			continue // encoding/json encodes it
		}
		if string(got) != string(want) {
			t.Errorf("field %s:\n got %s\nwant %s", field.Name, got, want)
		}
	}
}

// setSample gives v a non-zero value of its type.
func setSample(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if !setSample(p.Elem()) {
			return false
		}
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		if !setSample(s.Index(0)) {
			return false
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			if !setSample(v.Index(i)) {
				return false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if !setSample(v.Field(i)) {
				return false
			}
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf(any("x")))
	case reflect.Interface:
		v.Set(reflect.ValueOf("x"))
	default:
		return false
	}
	return true
}
