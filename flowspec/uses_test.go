package flowspec

import (
	"reflect"
	"testing"
)

// Uses lists every model and secret a flow names, where it names them,
// for the checks the machine that runs the flow makes.
func TestFlowUses(t *testing.T) {
	t.Parallel()
	src := `name: uses
defaults:
  model: [fast, openai/gpt-4o-mini]
mcp:
  files:
    command: [my-mcp-server]
    secrets: [files_token]
steps:
  a:
    kind: llm
    model: gpt-4o
    prompt: hi
  b:
    kind: checkpoint
    run: echo hi
    secrets: [webhook, files_token]
`
	f, err := Parse("f.yaml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Use{
		{UseModel, "fast", Pos{3, 11}},
		{UseModel, "openai/gpt-4o-mini", Pos{3, 17}},
		{UseSecret, "files_token", Pos{7, 15}},
		{UseModel, "gpt-4o", Pos{11, 12}},
		{UseSecret, "webhook", Pos{16, 15}},
		{UseSecret, "files_token", Pos{16, 24}},
	}
	if !reflect.DeepEqual(f.Uses, want) {
		t.Errorf("Uses = %+v\nwant %+v", f.Uses, want)
	}
}
