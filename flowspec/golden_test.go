package flowspec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestErrorGolden loads every flow under testdata/flowspec/errors and
// compares the whole error text with its .golden file.
func TestErrorGolden(t *testing.T) {
	files, err := filepath.Glob("../testdata/flowspec/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error cases found: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(name, data, Options{CheckModel: testCheckModel})
			if err == nil {
				t.Fatalf("%s loads without errors", name)
			}
			if _, ok := err.(*ErrorList); !ok {
				t.Fatalf("error is %T, want *ErrorList", err)
			}
			got := err.Error() + "\n"
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, name+":") {
					t.Errorf("line %q does not start with FILE:LINE:COL", line)
				}
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./flowspec -run TestErrorGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// testCheckModel stands in for providers.CheckModel: it knows two providers.
func testCheckModel(model string) error {
	if p, _, ok := strings.Cut(model, "/"); ok && p != "openai" && p != "anthropic" {
		return &InputError{Msg: "unknown provider " + p}
	}
	return nil
}

// TestGraphGolden keeps the Mermaid and DOT output of every example.
func TestGraphGolden(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, file := range files {
		f, err := Load(file, Options{})
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(file), ".yaml")
		for ext, got := range map[string]string{".mmd": f.Mermaid(), ".dot": f.DOT()} {
			golden := filepath.Join("../testdata/flowspec/graph", base+ext)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./flowspec -run Golden -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		}
	}
}
