// Package silence keeps what people said about a bucket in the web console, until an expiry:
// acknowledged ("someone is on it", shown beside the bucket) or silenced (the notifier posts
// nothing for the bucket's new verdicts). Entries live in the JetStream KV bucket
// bsodwatch_silences, one key per bucket and kind, so every notifier and console of a
// cluster sees the same ones. An expired entry is ignored and removed by the next Put or
// Delete of the console.
package silence

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/internal/kvwatch"
)

// Bucket is the KV bucket the entries are kept in.
const Bucket = "bsodwatch_silences"

// Kinds of entry.
const (
	KindAck     = "ack"     // acknowledged: shown, changes nothing else
	KindSilence = "silence" // the notifier posts nothing for the bucket until Until
)

// MaxFor is the longest an entry may last: a silence nobody remembers must end.
const MaxFor = 90 * 24 * time.Hour

// Entry is one acknowledgement or silence of a bucket.
type Entry struct {
	Bucket string `json:"bucket"`
	Kind   string `json:"kind"`
	// Until is when it ends.
	Until time.Time `json:"until"`
	// By is the user who set it; At when.
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// Active reports whether e is in force at t.
func (e Entry) Active(t time.Time) bool { return t.Before(e.Until) }

// Check reports what is wrong with an entry a person asked for, in one line.
func (e Entry) Check(now time.Time) error {
	switch {
	case e.Bucket == "" || len(e.Bucket) > 512:
		return errors.New("bucket: want a bucket name of 1 to 512 characters")
	case e.Kind != KindAck && e.Kind != KindSilence:
		return fmt.Errorf("kind %q: want ack or silence", e.Kind)
	case !e.Until.After(now):
		return errors.New("until: must be in the future")
	case e.Until.Sub(now) > MaxFor:
		return fmt.Errorf("until: at most %s ahead", MaxFor)
	case len(e.Comment) > 1000:
		return errors.New("comment: at most 1000 characters")
	}
	return nil
}

// Key is an entry's KV key: the kind, then the bucket in unpadded base64url (bucket names
// hold characters such as '!' that KV keys may not).
func Key(kind, bucket string) string {
	return kind + "." + base64.RawURLEncoding.EncodeToString([]byte(bucket))
}

// Store reads and writes the entries and keeps a copy in memory, current while Watch runs.
// It is safe for concurrent use.
type Store struct {
	kv jetstream.KeyValue

	mu      sync.RWMutex
	entries map[string]Entry // by Key
	ready   chan struct{}
	once    sync.Once
}

// Open creates the bucket when missing (with replicas copies) and returns its store.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "bsodwatch: acknowledged and silenced buckets", History: 1,
		Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("silences bucket: %w", err)
	}
	return &Store{kv: kv, entries: map[string]Entry{}, ready: make(chan struct{})}, nil
}

// Watch keeps the memory copy current until ctx ends. The first full load closes Ready.
func (s *Store) Watch(ctx context.Context) error {
	return kvwatch.Follow(ctx, s.kv, "silences", s.apply, func() { s.once.Do(func() { close(s.ready) }) })
}

func (s *Store) apply(key string, op jetstream.KeyValueOp, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op != jetstream.KeyValuePut {
		delete(s.entries, key)
		return
	}
	var e Entry
	if json.Unmarshal(value, &e) != nil {
		return // not ours; ignored
	}
	s.entries[key] = e
}

// Ready is closed once Watch has loaded every stored entry.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// Silenced reports whether bucket is silenced at t (the notifier's question).
func (s *Store) Silenced(bucket string, t time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[Key(KindSilence, bucket)]
	return ok && e.Active(t)
}

// Of returns the entries of bucket in force at t (at most one of each kind).
func (s *Store) Of(bucket string, t time.Time) []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Entry
	for _, k := range []string{KindAck, KindSilence} {
		if e, ok := s.entries[Key(k, bucket)]; ok && e.Active(t) {
			out = append(out, e)
		}
	}
	return out
}

// List returns every entry in force at t, by bucket then kind.
func (s *Store) List(t time.Time) []Entry {
	s.mu.RLock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if e.Active(t) {
			out = append(out, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if c := strings.Compare(a.Bucket, b.Bucket); c != 0 {
			return c
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return out
}

// Put stores e (replacing the bucket's entry of that kind) and updates the memory copy.
func (s *Store) Put(ctx context.Context, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	key := Key(e.Kind, e.Bucket)
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("store %s of %s: %w", e.Kind, e.Bucket, err)
	}
	s.apply(key, jetstream.KeyValuePut, b)
	s.prune(ctx, e.At)
	return nil
}

// Delete ends the bucket's entry of kind now. Deleting what is not there is no error.
func (s *Store) Delete(ctx context.Context, kind, bucket string) error {
	key := Key(kind, bucket)
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete %s of %s: %w", kind, bucket, err)
	}
	s.apply(key, jetstream.KeyValueDelete, nil)
	return nil
}

// prune removes entries that have ended (best effort: a failure leaves them for next time,
// and expired entries are ignored anyway).
func (s *Store) prune(ctx context.Context, now time.Time) {
	s.mu.RLock()
	var old []string
	for k, e := range s.entries {
		if !e.Active(now) {
			old = append(old, k)
		}
	}
	s.mu.RUnlock()
	for _, k := range old {
		if s.kv.Delete(ctx, k) == nil {
			s.apply(k, jetstream.KeyValueDelete, nil)
		}
	}
}

// KV reads the entries once, for a job that runs now and then (the share's retention), where
// a watching Store would be wasted.
type KV struct {
	JS       jetstream.JetStream
	Replicas int
}

// Active returns the entries in force at now by crash bucket; of a bucket both silenced and
// acknowledged, the silence. A missing bucket of entries is none.
func (s KV) Active(ctx context.Context, now time.Time) (map[string]Entry, error) {
	kv, err := s.JS.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return map[string]Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("silences bucket: %w", err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	out := map[string]Entry{}
	for k := range keys.Keys() {
		v, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			keys.Stop()
			return nil, fmt.Errorf("read silence %s: %w", k, err)
		}
		var e Entry
		if json.Unmarshal(v.Value(), &e) != nil || Key(e.Kind, e.Bucket) != k || !e.Active(now) {
			continue
		}
		if old, ok := out[e.Bucket]; !ok || old.Kind != KindSilence {
			out[e.Bucket] = e
		}
	}
	return out, nil
}

// Put stores e through a Store (creating the bucket when missing).
func (s KV) Put(ctx context.Context, e Entry) error {
	st, err := Open(ctx, s.JS, s.Replicas)
	if err != nil {
		return err
	}
	return st.Put(ctx, e)
}
