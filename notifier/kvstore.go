package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// StateBucket is the notifier's KV bucket: "seen.<h>" holds the stream sequence of the
// first result of a bucket, "group.<target>.<h>" a target's open group window (JSON), and
// "sent.<target>.<h>" records that a target is done with one delivery (a result, by its
// message ID, or a group update); those records carry a per-key TTL so the bucket does not
// grow for ever.
const StateBucket = "bsodwatch_notifier"

// markerTTL is how long the server keeps the marker it leaves when a "sent" record expires.
const markerTTL = time.Minute

// kvStore is the stateStore on a JetStream KV bucket.
type kvStore struct {
	kv  jetstream.KeyValue
	ttl time.Duration // of "sent" records; 0: the server cannot expire keys, none are written
}

func openKVStore(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration, log zerolog.Logger) (*kvStore, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "notifier: buckets seen, open group windows and deliveries per target",
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		// Allows per-key TTLs (nats-server 2.11+); turning it on for an existing bucket is
		// allowed, and the other keys keep living until deleted.
		LimitMarkerTTL: markerTTL,
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		// An older server: without expiry the records would pile up, so none are kept and a
		// crash between a post and its ack may post again, as before.
		log.Warn().Msg("NATS server too old for per-key TTL (needs 2.11): delivery records off, a crash between post and ack may repeat a message")
		cfg.LimitMarkerTTL, ttl = 0, 0
		kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", StateBucket, err)
	}
	return &kvStore{kv: kv, ttl: ttl}, nil
}

func sentKey(target, key string) string { return "sent." + target + "." + bucketKey(key) }

func (s *kvStore) Delivered(ctx context.Context, target, key string) (bool, error) {
	if s.ttl == 0 {
		return false, nil
	}
	_, err := s.kv.Get(ctx, sentKey(target, key))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return false, nil
	}
	return false, fmt.Errorf("read delivery record: %w", err)
}

func (s *kvStore) MarkDelivered(ctx context.Context, target, key string) error {
	if s.ttl == 0 {
		return nil
	}
	v := []byte(time.Now().UTC().Format(time.RFC3339))
	_, err := s.kv.Create(ctx, sentKey(target, key), v, jetstream.KeyTTL(s.ttl))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("write delivery record: %w", err)
	}
	return nil
}

func groupKey(target, bucket string) string { return "group." + target + "." + bucketKey(bucket) }

func (s *kvStore) Groups(ctx context.Context, target string) (map[string]*groupState, error) {
	out := map[string]*groupState{}
	kl, err := s.kv.ListKeysFiltered(ctx, "group."+target+".*")
	if err != nil {
		return nil, fmt.Errorf("list group state: %w", err)
	}
	var keys []string
	for k := range kl.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read group state: %w", err)
		}
		var g groupState
		if err := json.Unmarshal(e.Value(), &g); err != nil || g.Bucket == "" {
			continue // unreadable state is dropped rather than blocking the target
		}
		out[g.Bucket] = &g
	}
	return out, nil
}

func (s *kvStore) PutGroup(ctx context.Context, target string, g *groupState) error {
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("encode group state: %w", err)
	}
	if _, err := s.kv.Put(ctx, groupKey(target, g.Bucket), b); err != nil {
		return fmt.Errorf("write group state: %w", err)
	}
	return nil
}

func (s *kvStore) DeleteGroup(ctx context.Context, target, bucket string) error {
	if err := s.kv.Purge(ctx, groupKey(target, bucket)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete group state: %w", err)
	}
	return nil
}

func (s *kvStore) FirstSeen(ctx context.Context, bucket string, seq uint64) (bool, error) {
	key := "seen." + bucketKey(bucket)
	_, err := s.kv.Create(ctx, key, []byte(strconv.FormatUint(seq, 10)))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("record bucket seen: %w", err)
	}
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read bucket seen: %w", err)
	}
	first, _ := strconv.ParseUint(string(e.Value()), 10, 64)
	if seq < first {
		// A target that lags behind met an earlier result of the bucket: it is the first.
		// A lost race here only means the next call retries with the newer revision.
		if _, err := s.kv.Update(ctx, key, []byte(strconv.FormatUint(seq, 10)), e.Revision()); err != nil {
			return false, fmt.Errorf("record bucket seen: %w", err)
		}
		return true, nil
	}
	return first == seq, nil
}
