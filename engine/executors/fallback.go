package executors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kitaruhq/kitaru/engine/runstore"
	"github.com/kitaruhq/kitaru/engine/work"
	"github.com/kitaruhq/kitaru/providers"
)

// callModels makes one model call of a step with its models in order: the
// next model is tried when one gives no answer after its own HTTP retries
// (see flowspec's doc: every failure falls back but a stop and a spent
// budget). It returns the answer, the index in models of the model that
// gave it (of the last one tried when none did), and the models that gave
// none, masked, the last one too when every model failed.
func callModels(ctx context.Context, c providers.Caller, req providers.Request, models []string, sink work.Sink) (*providers.Response, int, []runstore.ModelTry, error) {
	var failed []runstore.ModelTry
	var errs []error
	for i, m := range models {
		req.Model = m
		t0 := time.Now()
		resp, err := c.Call(ctx, req)
		// A server may echo the key it was sent (in its answer or an
		// error): the key is masked in all the step records, as a secret is.
		creds := providers.CredentialsOf(err)
		if resp != nil {
			creds = resp.Credentials
		}
		sink.AddSecrets(creds)
		if err == nil {
			return resp, i, failed, nil
		}
		if !fallsBack(ctx, err) {
			if len(failed) == 0 {
				return nil, i, nil, err
			}
			return nil, i, failed, fmt.Errorf("after %s gave no answer: %w", names(failed), err)
		}
		if len(models) == 1 {
			return nil, i, nil, err
		}
		failed = append(failed, runstore.ModelTry{Model: name(m), Error: sink.Mask(err.Error()), DurationMS: time.Since(t0).Milliseconds()})
		errs = append(errs, err)
		if i+1 < len(models) {
			sink.Log(fmt.Sprintf("model %s gave no answer, trying %s: %s", name(m), name(models[i+1]), err))
		}
	}
	return nil, len(models) - 1, failed, &noAnswer{tries: failed, errs: errs}
}

// fallsBack says whether the next model is tried after err: not when the
// call was stopped (the run, or the step's timeout) nor when the run's
// budget refused it.
func fallsBack(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !errors.Is(err, work.ErrBudgetSpent)
}

// name is a model as a step names it, the default one too.
func name(m string) string {
	if m == "" {
		return "the default model"
	}
	return m
}

func names(tries []runstore.ModelTry) string {
	out := make([]string, len(tries))
	for i, t := range tries {
		out[i] = t.Model
	}
	return strings.Join(out, ", ")
}

// noAnswer is the error of a call that no model of the list answered.
// Retrying the step helps unless every model refused the call for good.
type noAnswer struct {
	tries []runstore.ModelTry // masked
	errs  []error
}

func (e *noAnswer) Error() string {
	parts := make([]string, len(e.tries))
	for i, t := range e.tries {
		parts[i] = t.Model + ": " + t.Error
	}
	return fmt.Sprintf("none of the %d models answered: %s", len(e.tries), strings.Join(parts, "; then "))
}

// Is makes the error permanent (no step retry) only when every model's
// was.
func (e *noAnswer) Is(target error) bool {
	if target != providers.ErrPermanent {
		return false
	}
	for _, err := range e.errs {
		if !errors.Is(err, providers.ErrPermanent) {
			return false
		}
	}
	return true
}

// Remedy is the way out the last model's error offers (a key to set).
func (e *noAnswer) Remedy() *runstore.Remedy { return runstore.RemedyOf(e.errs[len(e.errs)-1]) }
