// Package hoststatus records how each host's last sweep went (reachable, offline, logon
// failed, access denied, ...) in the JetStream KV bucket bsodwatch_hosts, so that the web
// console of any process shows the fetcher's view of every host. The fetcher reports
// every sweep of a host to a Recorder, which never blocks it: a state change is written
// at once (within a flush), an unchanged state at most once per Refresh.
package hoststatus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/internal/kvwatch"
	"github.com/rs/zerolog"
)

// Bucket is the KV bucket the states are kept in.
const Bucket = "bsodwatch_hosts"

// StateOK is the state of a host that was swept without error; the others are the
// fetcher's reasons (offline, auth, denied, no_share, config, timeout, error).
const StateOK = "ok"

// Refresh is how often an unchanged state is written again (its Checked time moves on).
const Refresh = time.Minute

// Status is one host's last sweep as the fetcher saw it.
type Status struct {
	Host  string `json:"host"`
	State string `json:"state"`
	// Error is the sweep's error message when it failed.
	Error string `json:"error,omitempty"`
	// Checked is when the host was last swept; Since when it entered State.
	Checked time.Time `json:"checked"`
	Since   time.Time `json:"since"`
	// LastOK is the last sweep without error.
	LastOK time.Time `json:"last_ok,omitzero"`
}

func key(host string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(host)))
}

func open(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "bsodwatch: each host's last sweep", History: 1,
		Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("host status bucket: %w", err)
	}
	return kv, nil
}

// Recorder takes the fetcher's reports and writes them to the bucket in the background.
type Recorder struct {
	kv  jetstream.KeyValue
	log zerolog.Logger

	mu      sync.Mutex
	hosts   map[string]*Status   // by key
	dirty   map[string]bool      // keys to write
	written map[string]time.Time // key -> Checked of the last write
	wake    chan struct{}
}

// NewRecorder opens (creating) the bucket.
func NewRecorder(ctx context.Context, js jetstream.JetStream, replicas int, log zerolog.Logger) (*Recorder, error) {
	kv, err := open(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	return &Recorder{kv: kv, log: log, hosts: map[string]*Status{}, dirty: map[string]bool{},
		written: map[string]time.Time{}, wake: make(chan struct{}, 1)}, nil
}

// HostSwept records one sweep of host: state is "ok" or the fetcher's reason, errText the
// error's message. It never blocks.
func (r *Recorder) HostSwept(host, state, errText string, at time.Time) {
	k := key(host)
	r.mu.Lock()
	st := r.hosts[k]
	changed := st == nil || st.State != state || st.Error != errText
	if st == nil {
		st = &Status{Host: host}
		r.hosts[k] = st
	}
	if st.State != state {
		st.Since = at
	}
	st.State, st.Error, st.Checked = state, errText, at
	if state == StateOK {
		st.LastOK = at
	}
	if changed || at.Sub(r.written[k]) >= Refresh {
		r.dirty[k] = true
	}
	r.mu.Unlock()
	if changed {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Run writes what changed, on a change and every few seconds, until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flush(context.WithoutCancel(ctx))
			return
		case <-r.wake:
		case <-t.C:
		}
		r.flush(ctx)
	}
}

func (r *Recorder) flush(ctx context.Context) {
	r.mu.Lock()
	var todo []Status
	for k := range r.dirty {
		todo = append(todo, *r.hosts[k])
	}
	clear(r.dirty)
	r.mu.Unlock()
	for _, st := range todo {
		b, _ := json.Marshal(st)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		k := key(st.Host)
		_, err := r.kv.Put(wctx, k, b)
		cancel()
		r.mu.Lock()
		if err != nil {
			r.dirty[k] = true // next time
		} else {
			r.written[k] = st.Checked
		}
		r.mu.Unlock()
		if err != nil {
			r.log.Debug().Err(err).Str("host", st.Host).Msg("host status not written; retrying")
			return
		}
	}
}

// Reader keeps every host's status in memory, current while Watch runs.
type Reader struct {
	kv jetstream.KeyValue

	mu    sync.RWMutex
	hosts map[string]Status // by key
}

// NewReader opens (creating) the bucket.
func NewReader(ctx context.Context, js jetstream.JetStream, replicas int) (*Reader, error) {
	kv, err := open(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	return &Reader{kv: kv, hosts: map[string]Status{}}, nil
}

// Watch follows the bucket until ctx ends.
func (r *Reader) Watch(ctx context.Context) error {
	return kvwatch.Follow(ctx, r.kv, "host status", func(key string, op jetstream.KeyValueOp, value []byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		var st Status
		if op == jetstream.KeyValuePut && json.Unmarshal(value, &st) == nil {
			r.hosts[key] = st
		} else {
			delete(r.hosts, key)
		}
	}, nil)
}

// Get returns host's status.
func (r *Reader) Get(host string) (Status, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.hosts[key(host)]
	return st, ok
}

// All returns every host's status, by name.
func (r *Reader) All() []Status {
	r.mu.RLock()
	out := make([]Status, 0, len(r.hosts))
	for _, st := range r.hosts {
		out = append(out, st)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(strings.ToLower(a.Host), strings.ToLower(b.Host)) })
	return out
}
