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
// several fetchers (or a restarted one) agree on what was queued.
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

// Get implements State.
func (s *KVState) Get(ctx context.Context, host, p string) (Seen, bool, error) {
	e, err := s.kv.Get(ctx, stateKey(host, p))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Seen{}, false, nil
	}
	if err != nil {
		return Seen{}, false, err
	}
	var v Seen
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return Seen{}, false, nil // unreadable state: treat as unseen, the queue dedupes
	}
	return v, true, nil
}

// Put implements State.
func (s *KVState) Put(ctx context.Context, host, p string, v Seen) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.kv.Put(ctx, stateKey(host, p), b)
	return err
}
