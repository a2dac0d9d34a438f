package fetcher

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/pipeline"
)

// KVState keeps the fetcher's state in the JetStream KV bucket pipeline.SeenBucket, so that
// several fetchers (or a restarted one) agree on what was queued: the dumps under
// h.<host>.<path>, how far each host's event log was read under e.<host>.
type KVState struct{ kv jetstream.KeyValue }

var _ State = (*KVState)(nil)

// NewKVState opens the bucket (pipeline.EnsureStreams creates it).
func NewKVState(ctx context.Context, js jetstream.JetStream) (*KVState, error) {
	kv, err := js.KeyValue(ctx, pipeline.SeenBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", pipeline.SeenBucket, err)
	}
	return &KVState{kv: kv}, nil
}

// stateKey encodes host and path (case-folded, as Windows compares names) into the
// characters KV keys allow.
func stateKey(host, p string) string {
	enc := base64.RawURLEncoding
	return "h." + enc.EncodeToString([]byte(strings.ToLower(host))) + "." + enc.EncodeToString([]byte(strings.ToLower(p)))
}

// Get implements State. Unreadable state reads as unseen: the dump is copied again and the
// queue drops the repeat.
func (s *KVState) Get(ctx context.Context, host, p string) (Seen, bool, error) {
	return getJSON[Seen](ctx, s.kv, stateKey(host, p))
}

// Put implements State.
func (s *KVState) Put(ctx context.Context, host, p string, v Seen) error {
	return putJSON(ctx, s.kv, stateKey(host, p), v)
}

var _ LogStates = (*KVState)(nil)

// logKey is the key of a host's event log state (host case-folded).
func logKey(host string) string {
	return "e." + base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(host)))
}

// GetLog implements LogStates. Unreadable state reads as none: the log is read again from
// its start, and the queue drops the crashes already queued within its duplicate window.
func (s *KVState) GetLog(ctx context.Context, host string) (LogState, bool, error) {
	return getJSON[LogState](ctx, s.kv, logKey(host))
}

// PutLog implements LogStates.
func (s *KVState) PutLog(ctx context.Context, host string, v LogState) error {
	return putJSON(ctx, s.kv, logKey(host), v)
}

// getJSON reads a JSON value; a missing or unreadable one is reported as absent.
func getJSON[T any](ctx context.Context, kv jetstream.KeyValue, key string) (T, bool, error) {
	var v T
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		var zero T
		return zero, false, nil
	}
	return v, true, nil
}

func putJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, key, b)
	return err
}
