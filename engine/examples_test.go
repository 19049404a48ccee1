package engine

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/kitaruhq/kitaru/engine/runstore/filestore"
	"github.com/kitaruhq/kitaru/flowspec"
)

// The example flows run to their documented end offline: llm steps answer
// through KITARU_LLM_MOCK_RESPONSE, wait steps are answered.
func TestExamplesRunOffline(t *testing.T) {
	t.Setenv("KITARU_LLM_MOCK_RESPONSE", "mocked")
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	answers := map[string]string{"approval": `true`, "details": `{"channel": "blog"}`, "research": `"city proper"`}
	// An example whose answer must follow a schema gets one that does, as
	// its comment says.
	mocks := map[string]string{"structured.yaml": `{"name": "Ada Lovelace", "year": 1843, "fields": ["mathematics"]}`}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if mock, ok := mocks[filepath.Base(file)]; ok {
				t.Setenv("KITARU_LLM_MOCK_RESPONSE", mock)
			}
			f, err := flowspec.Load(file, flowspec.Options{})
			if err != nil {
				t.Fatal(err)
			}
			in, err := f.BindInputs(nil)
			if err != nil {
				t.Fatal(err)
			}
			eng := New(Config{Store: filestore.New(t.TempDir()), Secrets: fakeSecrets{"webhook": {"WEBHOOK_TOKEN": "tok"}}})
			run, err := eng.Start(context.Background(), StartOptions{Flow: f, Inputs: in})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; run.Status == RunWaiting && i < 5; i++ {
				var waiting string
				for _, s := range run.Steps {
					if s.Status == StepWaiting {
						waiting = s.ID
					}
				}
				if _, err := eng.Answer(t.Context(), run.ID, waiting, json.RawMessage(answers[waiting])); err != nil {
					t.Fatal(err)
				}
				if run, err = eng.Resume(t.Context(), run.ID, 0); err != nil {
					t.Fatal(err)
				}
			}
			wantStatus(t, run, RunCompleted)
		})
	}
}
