package history

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// casAttempts bounds the read-modify-write retries when several analyzers mark at once.
const casAttempts = 50

// hostMemory caps the crash times kept per host: enough for any sane crash-loop count.
const hostMemory = 64

// Marker sets a verdict's marks from the memory it keeps in a JetStream KV bucket (bucket ->
// first and last crash; host -> recent crashes). Several analyzers may share one bucket:
// every change is a compare-and-set on the key's revision.
type Marker struct {
	kv    jetstream.KeyValue
	opts  Options
	marks *prometheus.CounterVec
}

// NewMarker creates or updates the marker's KV bucket. reg may be nil (no metrics).
func NewMarker(ctx context.Context, js jetstream.JetStream, o Options, reg prometheus.Registerer) (*Marker, error) {
	o = o.WithDefaults()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      o.Bucket,
		Description: "history: bucket -> first/last crash, host -> recent crashes",
		Storage:     jetstream.FileStorage,
		TTL:         o.Retention,
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", o.Bucket, err)
	}
	m := &Marker{kv: kv, opts: o}
	m.marks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bsodwatch_history_marks_total",
		Help: "Verdicts marked, by mark (new_bucket, regression, crash_loop).",
	}, []string{"mark"})
	if reg != nil {
		if err := reg.Register(m.marks); err != nil {
			// A second marker in one process (several analyzer workers) shares the counter.
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("register history metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("register history metrics: %w", err)
			}
			m.marks = existing
		}
	}
	return m, nil
}

// bucketState is what the marker remembers of one bucket.
type bucketState struct {
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Count    int       `json:"count"`
	FirstJob string    `json:"first_job"`
	// LastJob and LastRegression let a redelivered job get the same marks again.
	LastJob        string `json:"last_job"`
	LastRegression bool   `json:"last_regression,omitempty"`
}

// hostState is what the marker remembers of one host: its most recent crashes.
type hostState struct {
	Crashes []crash `json:"crashes"`
}

type crash struct {
	Job  string    `json:"job"`
	Time time.Time `json:"time"`
}

// Mark sets r.Marks.NewBucket, Regression and CrashLoop and records r in the marker's
// memory. Marking the same job again gives the same marks and counts it once. The times used
// are crash times (CrashTime), so old dumps submitted late do not raise false alarms.
func (m *Marker) Mark(ctx context.Context, r *pipeline.Result) error {
	if r.Job.ID == "" {
		return errors.New("mark verdict: job has no id")
	}
	t := CrashTime(r)
	if t.IsZero() {
		t = time.Now()
	}
	// A failed analysis names no bucket worth calling new, nor does an unexpected reboot
	// without a bug check; the host still went down, and counts towards a crash loop.
	var newBucket, regression bool
	if r.Status != pipeline.StatusFailed && (r.Verdict == nil || r.Verdict.Kind != analysis.KindReboot) {
		var err error
		if newBucket, regression, err = m.markBucket(ctx, r.Bucket(), r.Job.ID, t); err != nil {
			return err
		}
	}
	var err error
	loop := false
	if r.Job.Host != "" && !strings.EqualFold(r.Job.Host, "unknown") {
		if loop, err = m.markHost(ctx, r.Job.Host, r.Job.ID, t); err != nil {
			return err
		}
	}
	r.Marks.NewBucket, r.Marks.Regression, r.Marks.CrashLoop = newBucket, regression, loop
	for name, on := range map[string]bool{"new_bucket": newBucket, "regression": regression, "crash_loop": loop} {
		if on {
			m.marks.WithLabelValues(name).Inc()
		}
	}
	return nil
}

func (m *Marker) markBucket(ctx context.Context, bucket, job string, t time.Time) (newBucket, regression bool, err error) {
	key := kvKey("b", bucket)
	err = m.update(ctx, key, func(raw []byte, exists bool) ([]byte, bool, error) {
		newBucket, regression = false, false // a retried attempt starts afresh
		var s bucketState
		if exists {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, false, fmt.Errorf("bucket state %q: %w", bucket, err)
			}
		}
		switch {
		case !exists:
			newBucket = true
			s = bucketState{First: t, Last: t, Count: 1, FirstJob: job, LastJob: job}
		case s.FirstJob == job:
			newBucket = true
			return nil, false, nil
		case s.LastJob == job:
			regression = s.LastRegression
			return nil, false, nil
		default:
			regression = t.Sub(s.Last) > m.opts.RegressionQuiet
			s.Count++
			if t.Before(s.First) {
				s.First = t
			}
			if t.After(s.Last) {
				s.Last = t
			}
			s.LastJob, s.LastRegression = job, regression
		}
		out, err := json.Marshal(s)
		return out, true, err
	})
	if err != nil {
		return false, false, fmt.Errorf("mark bucket %q: %w", bucket, err)
	}
	return newBucket, regression, nil
}

func (m *Marker) markHost(ctx context.Context, host, job string, t time.Time) (loop bool, err error) {
	key := kvKey("h", strings.ToLower(host))
	err = m.update(ctx, key, func(raw []byte, exists bool) ([]byte, bool, error) {
		var s hostState
		if exists {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, false, fmt.Errorf("host state %q: %w", host, err)
			}
		}
		changed := !slices.ContainsFunc(s.Crashes, func(c crash) bool { return c.Job == job })
		if changed {
			s.Crashes = append(s.Crashes, crash{Job: job, Time: t})
			slices.SortFunc(s.Crashes, func(a, b crash) int { return a.Time.Compare(b.Time) })
			if len(s.Crashes) > hostMemory {
				s.Crashes = s.Crashes[len(s.Crashes)-hostMemory:]
			}
		}
		// Crashes within the window that ends at this one, this one included.
		n := 0
		for _, c := range s.Crashes {
			if !c.Time.After(t) && t.Sub(c.Time) < m.opts.CrashLoopWindow {
				n++
			}
		}
		loop = n >= m.opts.CrashLoopCount
		if !changed {
			return nil, false, nil
		}
		out, err := json.Marshal(s)
		return out, true, err
	})
	if err != nil {
		return false, fmt.Errorf("mark host %q: %w", host, err)
	}
	return loop, nil
}

// update runs a compare-and-set loop on key: change gets the current value and returns the
// new one and whether to write it.
func (m *Marker) update(ctx context.Context, key string, change func(raw []byte, exists bool) ([]byte, bool, error)) error {
	for range casAttempts {
		var raw []byte
		var rev uint64
		entry, err := m.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			raw, rev = entry.Value(), entry.Revision()
		}
		out, write, err := change(raw, rev != 0)
		if err != nil || !write {
			return err
		}
		if rev == 0 {
			_, err = m.kv.Create(ctx, key, out)
		} else {
			_, err = m.kv.Update(ctx, key, out, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("key %s: too much contention (%d attempts)", key, casAttempts)
}

// kvKey makes a KV key from any bucket or host name: KV keys allow only a few characters,
// and buckets hold '!', '+', spaces and more.
func kvKey(kind, name string) string {
	return kind + "." + base64.RawURLEncoding.EncodeToString([]byte(name))
}
