package engine

import (
	"context"
	"encoding/json"
	"sync"
)

// deferredOutput stands, in the record a replay returns, for the output of
// a reused step the replay never needed: it is read from the step's record
// (in the run that holds it) only when it is printed or asked for, so a
// replay costs what it re-executes, not the size of the run it replays.
type deferredOutput struct {
	st        Store
	run, step string
	replay    string // the run that reuses it

	once    sync.Once
	v       any
	err     error
	missing bool // the record is gone
}

func (d *deferredOutput) load() (any, error) {
	d.once.Do(func() {
		r, err := d.st.LoadStep(context.Background(), d.run, d.step)
		switch {
		case err != nil:
			d.err = err
		case r == nil:
			d.err, d.missing = missingRecord(d.run, d.step, d.replay), true
		default:
			d.v = r.Output
		}
	})
	return d.v, d.err
}

// MarshalJSON writes the output as the record holds it; null when the
// record is gone (removed by hand since the replay took it), so the rest
// of the record still prints: executions get names what is missing.
func (d *deferredOutput) MarshalJSON() ([]byte, error) {
	v, err := d.load()
	if d.missing {
		return []byte("null"), nil
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// String formats the output as text (JSON for maps and lists).
func (d *deferredOutput) String() string {
	v, err := d.load()
	if err != nil {
		return "<" + err.Error() + ">"
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// OutputValue returns a step output as a plain value: the outputs of steps
// a replay reused without needing them are read from their records on
// first use (see Replay), and this reads them; other values pass through.
func OutputValue(v any) (any, error) {
	if d, ok := v.(*deferredOutput); ok {
		return d.load()
	}
	return v, nil
}
