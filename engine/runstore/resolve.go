package runstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoRef is returned by Resolve for an empty reference.
var ErrNoRef = errors.New("no run given: name a run id, a prefix of one, or 'last'")

// AmbiguousError is a prefix that matches more than one run.
type AmbiguousError struct {
	Ref     string
	Matches []string
}

func (e *AmbiguousError) Error() string {
	shown := e.Matches
	more := ""
	if len(shown) > ambiguousShown {
		// A short prefix can match thousands: a line, not a page.
		shown, more = shown[:ambiguousShown], fmt.Sprintf(" and %d more", len(e.Matches)-ambiguousShown)
	}
	return fmt.Sprintf("%q matches %d runs: %s%s; give more of the id", e.Ref, len(e.Matches), strings.Join(shown, ", "), more)
}

// ambiguousShown is how many of an ambiguous prefix's runs its error names.
const ambiguousShown = 5

// Resolve turns a run reference into a run id: a full id, an unambiguous
// prefix of one with or without "kr-", or "last" (the newest run that is
// not a sub-flow's child run: the run a person started last). The
// rules are the same whatever the backend, so they live here, once. A run
// too damaged to read still resolves by its id, so that its damage can be
// reported.
func Resolve(ctx context.Context, s Runs, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", ErrNoRef
	}
	if ref == "last" {
		return last(ctx, s)
	}
	want := ref
	switch {
	case strings.HasPrefix("kr-", want):
		want = "kr-" // "k", "kr": the start of every id, not "kr-kr"
	case !strings.HasPrefix(want, "kr-"):
		want = "kr-" + want
	}
	if ref == want {
		ok, err := s.Exists(ctx, ref)
		if err != nil {
			return "", err
		}
		if ok {
			return ref, nil // a full id: no need to list every run
		}
	}
	page, err := s.Query(ctx, Query{IDPrefix: want})
	var damaged DamagedRuns
	if err != nil && !errors.As(err, &damaged) {
		return "", err
	}
	var cands []string
	for _, m := range page.Runs {
		cands = append(cands, m.ID)
	}
	for _, d := range damaged {
		cands = append(cands, d.RunID)
	}
	for _, id := range cands {
		if id == want {
			return id, nil
		}
	}
	switch len(cands) {
	case 0:
		return "", Advise(fmt.Errorf("no run matches %q: %w", ref, ErrNotFound), Remedy{Do: RemedyListRuns})
	case 1:
		return cands[0], nil
	}
	sort.Strings(cands)
	return "", &AmbiguousError{Ref: ref, Matches: cands}
}

// last is the newest run that no flow step started. The newest run is
// nearly always it, so one is read first.
func last(ctx context.Context, s Runs) (string, error) {
	q := Query{Limit: 1}
	for {
		page, err := s.Query(ctx, q)
		var damaged DamagedRuns
		if err != nil && !errors.As(err, &damaged) {
			return "", err
		}
		for _, m := range page.Runs {
			if m.Parent == nil {
				return m.ID, nil
			}
		}
		if page.Next == "" {
			return "", fmt.Errorf("there is no last run yet: %w", ErrNotFound)
		}
		q = Query{Limit: 50, Cursor: page.Next}
	}
}
