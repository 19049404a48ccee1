package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// A run's graph is its recorded flow's: needs and the steps expressions
// read, in stages.
func TestGraph(t *testing.T) {
	t.Parallel()
	te := newFileEnv(t)
	run := te.start(te.flow(`name: g
steps:
  a: {kind: checkpoint, run: echo a}
  b: {kind: checkpoint, run: echo b}
  c: {kind: checkpoint, needs: [a], run: 'echo ${{ steps.b.output }}'}
  d: {kind: checkpoint, needs: [c], foreach: '${{ [1, 2] }}', run: 'echo ${{ item }}'}
`), nil)
	got, err := te.eng.Graph(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(got)
	want := `[{"id":"a","kind":"checkpoint","needs":[],"stage":1},{"id":"b","kind":"checkpoint","needs":[],"stage":1},` +
		`{"id":"c","kind":"checkpoint","needs":["a","b"],"stage":2},{"id":"d","kind":"checkpoint","needs":["c"],"stage":3,"foreach":true}]`
	if string(js) != want {
		t.Errorf("graph\n%s\nwant\n%s", js, want)
	}
	if _, err := te.eng.Graph(context.Background(), "kr-nosuchrun"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown run: %v", err)
	}
}
