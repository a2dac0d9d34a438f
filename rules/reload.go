package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Reloader keeps the current rule set for the analyzer and replaces it when the directory
// changes. A bad edit is refused, logged and counted; the last good set keeps working.
type Reloader struct {
	dir string
	log zerolog.Logger

	cur      atomic.Pointer[Set]
	lastErr  atomic.Pointer[error]
	lastLoad atomic.Pointer[time.Time]

	mu      sync.Mutex // serialises reloads
	lastSum string     // checksum of the files last tried, good or bad
	pending string     // a changed checksum seen once, waiting to be seen again

	failures prometheus.Counter
	lastOK   prometheus.Gauge
	loaded   prometheus.Gauge
}

// NewReloader loads dir (empty: the shipped library) and returns a Reloader serving it.
// The first load must succeed: there is no last good set to fall back on yet. reg may be
// nil (no metrics).
func NewReloader(dir string, log zerolog.Logger, reg prometheus.Registerer) (*Reloader, error) {
	r := &Reloader{
		dir: dir,
		log: log.With().Str("component", "rules").Logger(),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bsodwatch_rules_reload_failures_total",
			Help: "Rule reloads refused because the edited rules did not load.",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bsodwatch_rules_last_reload_successful",
			Help: "1 if the last rule (re)load succeeded, 0 if it was refused and an older set is in use.",
		}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bsodwatch_rules_loaded",
			Help: "Number of rules in the set in use.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.failures, r.lastOK, r.loaded} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register rule metrics: %w", err)
			}
		}
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Current returns the rule set in use. It never blocks and is never nil after
// NewReloader succeeded.
func (r *Reloader) Current() *Set { return r.cur.Load() }

// Reload loads the directory again (on SIGHUP). On failure it counts the failure, keeps the
// current set and returns the errors (file:line:column each) without logging them: the
// caller decides (LogRefused).
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum, _ := r.checksum()
	r.lastSum, r.pending = sum, ""
	return r.reloadLocked()
}

func (r *Reloader) reloadLocked() error {
	s, err := Load(r.dir)
	if err != nil {
		r.failures.Inc()
		r.lastOK.Set(0)
		r.lastErr.Store(&err)
		return fmt.Errorf("rules %s: %w", r.displayDir(), err)
	}
	old := r.cur.Swap(s)
	r.lastOK.Set(1)
	r.loaded.Set(float64(len(s.rules)))
	r.lastErr.Store(nil)
	r.lastLoad.Store(ptr(time.Now()))
	if old == nil || old.Version() != s.Version() {
		r.log.Info().Str("dir", r.displayDir()).Int("rules", len(s.rules)).Str("version", s.Version()).Msg("rules loaded")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// LogRefused logs a reload that Reload or Watch refused: every mistake, and which rules stay
// in use. Callers that act on a reload (SIGHUP) call it with Reload's error.
func (r *Reloader) LogRefused(err error) {
	ev := r.log.Error().Str("dir", r.displayDir())
	var es Errors
	if errors.As(err, &es) {
		lines := make([]string, len(es))
		for i, e := range es {
			lines[i] = e.Error()
		}
		ev = ev.Strs("errors", lines)
	} else {
		ev = ev.Err(err)
	}
	if cur := r.cur.Load(); cur != nil {
		ev.Str("keeping", cur.Version()).Msg("rule reload refused; the last good rules stay in use")
	} else {
		ev.Msg("rules failed to load")
	}
}

// Status is what a person (the web console, /healthz) wants to know about the rules in use.
type Status struct {
	Dir      string    // the folder, or "shipped library"
	Version  string    // of the set in use
	Rules    int       // in the set in use
	LoadedAt time.Time // when the set in use was loaded
	// LastError is why the last reload was refused (nil when it succeeded).
	LastError error
}

// Status reports the set in use and the outcome of the last reload.
func (r *Reloader) Status() Status {
	st := Status{Dir: r.displayDir()}
	if s := r.cur.Load(); s != nil {
		st.Version, st.Rules = s.Version(), len(s.rules)
	}
	if t := r.lastLoad.Load(); t != nil {
		st.LoadedAt = *t
	}
	if e := r.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

func (r *Reloader) displayDir() string {
	if r.dir == "" {
		return "shipped library"
	}
	return r.dir
}

// Watch polls the directory every interval and reloads when its rule files changed, until
// ctx ends. Polling a checksum needs no file-notification support and behaves the same on
// Windows shares and Linux. A change is loaded once two polls agree on it, so a file an
// editor is still writing is not mistaken for a bad edit; a bad edit is reported once, not
// on every poll.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	if r.dir == "" || interval <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		sum, err := r.checksum()
		if err != nil {
			r.log.Warn().Err(err).Str("dir", r.dir).Msg("cannot read rule directory; keeping current rules")
		} else if sum != r.lastSum {
			if sum == r.pending {
				r.lastSum, r.pending = sum, ""
				if err := r.reloadLocked(); err != nil {
					r.LogRefused(err)
				}
			} else {
				r.pending = sum
			}
		}
		r.mu.Unlock()
	}
}

// checksum hashes the names and contents of the rule files.
func (r *Reloader) checksum() (string, error) {
	if r.dir == "" {
		return "", nil
	}
	fsys := os.DirFS(r.dir)
	names, err := ruleFiles(fsys)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
