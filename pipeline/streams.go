package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamOptions size the streams. Zero values take the defaults.
type StreamOptions struct {
	// Replicas is the JetStream replica count (1 on a single server, 3 on a cluster).
	Replicas int
	// ResultsMaxAge is how long verdicts are kept (default a year).
	ResultsMaxAge time.Duration
	// DuplicateWindow is how long a repeated Nats-Msg-Id is recognised (default 24h).
	DuplicateWindow time.Duration
	// CreateOnly leaves streams and buckets that exist as they are (the commands people run
	// use it: a CLI must not resize a cluster's streams); missing ones are created.
	CreateOnly bool
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.ResultsMaxAge <= 0 {
		o.ResultsMaxAge = 365 * 24 * time.Hour
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 24 * time.Hour
	}
	return o
}

// EnsureStreams creates or updates the jobs and results streams and the fetcher's state
// bucket. Every role calls it at start, so whichever starts first sets them up.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	o = o.withDefaults()
	stream := js.CreateOrUpdateStream
	kv := js.CreateOrUpdateKeyValue
	if o.CreateOnly {
		stream = func(ctx context.Context, c jetstream.StreamConfig) (jetstream.Stream, error) {
			s, err := js.CreateStream(ctx, c)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return s, nil
			}
			return s, err
		}
		kv = func(ctx context.Context, c jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
			b, err := js.CreateKeyValue(ctx, c)
			if errors.Is(err, jetstream.ErrBucketExists) {
				return b, nil
			}
			return b, err
		}
	}
	if _, err := stream(ctx, jetstream.StreamConfig{
		Name:        JobsStream,
		Description: "dumps waiting for analysis",
		Subjects:    []string{JobsSubject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		Duplicates:  o.DuplicateWindow,
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", JobsStream, err)
	}
	if _, err := stream(ctx, jetstream.StreamConfig{
		Name:              ResultsStream,
		Description:       "verdicts, one per dump (newest kept)",
		Subjects:          []string{ResultsPrefix + ">"},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		MaxAge:            o.ResultsMaxAge,
		MaxMsgsPerSubject: 1,
		Duplicates:        o.DuplicateWindow,
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", ResultsStream, err)
	}
	if _, err := kv(ctx, jetstream.KeyValueConfig{
		Bucket:      SeenBucket,
		Description: "fetcher: dumps already queued (host/path -> size, mtime, sha256), how far each host's event log was read",
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}); err != nil {
		return fmt.Errorf("create bucket %s: %w", SeenBucket, err)
	}
	return nil
}
