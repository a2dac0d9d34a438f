package fetcher_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
)

// lookRecorder wraps a source and records when the fetcher listed a host and when it looked
// at each file again.
type lookRecorder struct {
	fetcher.Source
	mu     sync.Mutex
	listed time.Time
	stats  map[string][]time.Time
}

func (l *lookRecorder) Open(ctx context.Context, h fetcher.Host) (fetcher.Session, error) {
	s, err := l.Source.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &lookSession{Session: s, l: l}, nil
}

type lookSession struct {
	fetcher.Session
	l *lookRecorder
}

func (s *lookSession) ReadDir(ctx context.Context, dir string) ([]fetcher.Entry, error) {
	e, err := s.Session.ReadDir(ctx, dir)
	s.l.mu.Lock()
	if s.l.listed.IsZero() {
		s.l.listed = time.Now()
	}
	s.l.mu.Unlock()
	return e, err
}

func (s *lookSession) Stat(ctx context.Context, name string) (fetcher.Entry, error) {
	s.l.mu.Lock()
	s.l.stats[name] = append(s.l.stats[name], time.Now())
	s.l.mu.Unlock()
	return s.Session.Stat(ctx, name)
}

// TestHostDumpsShareTheFirstLook: several new dumps on one host are all checked for stability
// against the listing, so the host waits stable_after once, not once per dump, and no dump's
// second look comes sooner than stable_after after the first.
func TestHostDumpsShareTheFirstLook(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	const n = 4
	for i := range n {
		writeRandom(t, filepath.Join(fleet, "pc1", "Minidump", fmt.Sprintf("11252%d-01.dmp", i)), 4096, time.Time{})
	}
	src, err := dirsource.New(fleet)
	if err != nil {
		t.Fatal(err)
	}
	rec := &lookRecorder{Source: src, stats: map[string][]time.Time{}}
	const stable = 500 * time.Millisecond
	f := r.fetcher(t, fetcher.Options{StableAfter: stable, StableTimeout: time.Minute}, src, rec)
	rep := sweep(t, f)
	if len(rep.Copied) != n {
		t.Fatalf("copied %d dumps, want %d: %+v", len(rep.Copied), n, rep)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var last time.Time
	for i := range n {
		name := fmt.Sprintf("Minidump/11252%d-01.dmp", i)
		looks := rec.stats[name]
		if len(looks) == 0 {
			t.Fatalf("%s: never looked at again before the copy", name)
		}
		// The first Stat is the stability look (a later one re-checks the source after the copy).
		if gap := looks[0].Sub(rec.listed); gap < stable {
			t.Errorf("%s: second look %v after the listing, want at least %v", name, gap, stable)
		}
		if looks[0].After(last) {
			last = looks[0]
		}
	}
	// Waiting once per dump would put the last second look at least n*stable after the listing.
	if d := last.Sub(rec.listed); d >= time.Duration(n-1)*stable {
		t.Errorf("last second look %v after the listing: the host waited once per dump", d)
	}
}
