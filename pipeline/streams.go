package pipeline

import (
	"context"
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
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
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
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
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
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      SeenBucket,
		Description: "fetcher: dumps already queued (host/path -> size, mtime, sha256)",
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}); err != nil {
		return fmt.Errorf("create bucket %s: %w", SeenBucket, err)
	}
	return nil
}
