// Package silence is where silenced and acknowledged buckets are kept, so that the parts that
// honour them (the notifier, the dump share's retention) and the part that sets them (the
// web console) meet in one place: the JetStream KV bucket Bucket, one key per crash bucket.
//
// Key layout: "b." followed by the crash bucket's name in unpadded base64url (RFC 4648 §5),
// because bucket names hold characters KV keys do not allow ('!', '+', spaces). The value
// is a JSON Entry. An entry whose Until has passed no longer holds; whoever writes may also
// delete the key (a KV delete or purge) to lift it early.
package silence

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of silences and acknowledgements.
const Bucket = "bsodwatch_silences"

// Kinds of entry.
const (
	// KindSilence: stop posting this bucket's crashes until Until.
	KindSilence = "silence"
	// KindAck: a person has taken the bucket on (it is being worked on); crashes still post.
	KindAck = "ack"
)

// Entry is the value of one key.
type Entry struct {
	// Bucket is the crash bucket, as verdicts name it (pipeline.Result.Bucket).
	Bucket string `json:"bucket"`
	// Kind is KindSilence or KindAck.
	Kind string `json:"kind"`
	// Until is when the entry stops holding; zero means until lifted.
	Until time.Time `json:"until,omitzero"`
	// By is who set it, At when, Comment why.
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at,omitzero"`
	Comment string    `json:"comment,omitempty"`
}

// Holds reports whether e is in force at now.
func (e Entry) Holds(now time.Time) bool { return e.Until.IsZero() || now.Before(e.Until) }

// Key is the KV key of a crash bucket.
func Key(bucket string) string {
	return "b." + base64.RawURLEncoding.EncodeToString([]byte(bucket))
}

// KV reads and writes the entries in Bucket.
type KV struct {
	JS jetstream.JetStream
	// Replicas is used when Put creates the bucket (default 1).
	Replicas int
}

// Active returns the buckets silenced or acknowledged at now, each with its entry. A missing
// KV bucket means none; an entry that does not decode is skipped.
func (s KV) Active(ctx context.Context, now time.Time) (map[string]Entry, error) {
	kv, err := s.JS.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return map[string]Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", Bucket, err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Bucket, err)
	}
	defer lister.Stop()
	out := map[string]Entry{}
	for key := range lister.Keys() {
		if !strings.HasPrefix(key, "b.") {
			continue
		}
		v, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // lifted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", Bucket, err)
		}
		var e Entry
		if json.Unmarshal(v.Value(), &e) != nil || e.Bucket == "" || Key(e.Bucket) != key {
			continue
		}
		if e.Holds(now) {
			out[e.Bucket] = e
		}
	}
	return out, nil
}

// Put stores e under its bucket's key, creating the KV bucket when it is missing.
func (s KV) Put(ctx context.Context, e Entry) error {
	if e.Bucket == "" || (e.Kind != KindSilence && e.Kind != KindAck) {
		return fmt.Errorf("silence entry: want a bucket and kind %q or %q", KindSilence, KindAck)
	}
	kv, err := s.JS.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = s.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: Bucket, Description: "silenced and acknowledged crash buckets (package silence)",
			Storage: jetstream.FileStorage, Replicas: max(s.Replicas, 1),
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.JS.KeyValue(ctx, Bucket)
		}
	}
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", Bucket, err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, Key(e.Bucket), b); err != nil {
		return fmt.Errorf("write %s: %w", Bucket, err)
	}
	return nil
}
