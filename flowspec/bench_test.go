package flowspec

import (
	"fmt"
	"strings"
	"testing"
)

// bigFlow generates a flow of n steps: chains of ten llm steps, each chain
// fanning out from a shared root and joined by a final checkpoint every
// hundred steps.
func bigFlow(n int) []byte {
	var b strings.Builder
	b.WriteString("name: big\ninputs:\n  topic: {type: string, default: go}\ndefaults:\n  model: fast\n  retry: {attempts: 2, backoff: 1s}\nsteps:\n")
	b.WriteString("  s0:\n    kind: llm\n    prompt: Start with ${{ inputs.topic }}.\n")
	for i := 1; i < n; i++ {
		switch {
		case i%100 == 99:
			fmt.Fprintf(&b, "  s%d:\n    kind: checkpoint\n    needs: [s%d, s%d]\n    value: '${{ {\"a\": steps.s%d.output, \"n\": len(steps.s%d.output)} }}'\n", i, i-1, i-10, i-1, i-10)
		case i%10 == 0:
			fmt.Fprintf(&b, "  s%d:\n    kind: llm\n    prompt: Branch %d from ${{ steps.s0.output }}\n", i, i)
		default:
			fmt.Fprintf(&b, "  s%d:\n    kind: llm\n    if: steps.s%d.status == \"completed\"\n    prompt: |\n      Continue ${{ inputs.topic }} from:\n      ${{ steps.s%d.output }}\n", i, i-1, i-1)
		}
	}
	b.WriteString("output: ${{ steps.s" + fmt.Sprint(n-1) + ".output }}\n")
	return []byte(b.String())
}

func TestBigFlowLoads(t *testing.T) {
	f, err := Parse("big.yaml", bigFlow(1000), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Topo()) != 1000 {
		t.Fatalf("Topo has %d steps", len(f.Topo()))
	}
}

func BenchmarkLoad10000Steps(b *testing.B) {
	data := bigFlow(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("big.yaml", data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad10000StepsLazy is BenchmarkLoad10000Steps as a replay or
// resume loads a run's snapshot (Options.Lazy).
func BenchmarkLoad10000StepsLazy(b *testing.B) {
	data := bigFlow(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("big.yaml", data, Options{Lazy: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadChain1000Lazy loads the snapshot of the engine's 1,000-step
// benchmark chain, as `kitaru replay --from` the last step does first.
func BenchmarkLoadChain1000Lazy(b *testing.B) {
	data := chainSource(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("chain.yaml", data, Options{Lazy: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTemplateEval(b *testing.B) {
	c := newCompiler([]*Input{{Name: "topic", Type: "string"}}, []string{"outline"})
	tmpl, errs := c.compileTemplate("Write about ${{ inputs.topic }} following:\n${{ steps.outline.output }}", "bench", Pos{}, false, false)
	if errs != nil {
		b.Fatal(errs)
	}
	whole, errs := c.compileTemplate(`${{ {"n": len(steps.outline.output), "t": inputs.topic} }}`, "bench", Pos{}, false, false)
	if errs != nil {
		b.Fatal(errs)
	}
	scope := &Scope{
		Inputs: map[string]any{"topic": "durable execution"},
		Steps:  map[string]StepState{"outline": {Output: "- a\n- b\n- c", Status: "completed"}},
		RunID:  "kr-1", FlowName: "bench",
	}
	b.Run("render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tmpl.Render(scope); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := whole.Eval(scope); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTemplateBigOutput evaluates templates that read a step's big
// JSON output (a list of 10000 records, about 1 MB as text), as a foreach
// over it, a value: checkpoint that passes it on, or one that wraps it do.
func BenchmarkTemplateBigOutput(b *testing.B) {
	c := newCompiler(nil, []string{"big"})
	list := make([]any, 10000)
	for i := range list {
		list[i] = map[string]any{"id": float64(i), "title": fmt.Sprintf("record number %d of the big output", i), "tags": []any{"a", "b"}}
	}
	scope := &Scope{Steps: map[string]StepState{"big": {Output: list, Status: "completed"}}}
	for _, src := range []string{
		`${{ steps.big.output }}`,
		`${{ steps.big.output[0] }}`,
		`${{ {"records": steps.big.output, "n": len(steps.big.output)} }}`,
	} {
		tmpl, errs := c.compileTemplate(src, "bench", Pos{}, false, false)
		if errs != nil {
			b.Fatal(errs)
		}
		b.Run(strings.Trim(src, "${} "), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tmpl.Eval(scope); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
