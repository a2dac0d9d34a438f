// Package debugout keeps the whole output of each debugger run, so that a person can read
// what cdb printed behind a verdict (the web console links to it). Outputs live in the
// JetStream object store bsodwatch_debugger_output, one object per job ID (a re-analysis
// replaces it), expire with the verdicts (history.retention) and are capped at MaxBytes:
// a longer output keeps its first and last MaxBytes/2 with a line saying how much was cut.
package debugout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the object store the outputs are kept in.
const Bucket = "bsodwatch_debugger_output"

// MaxBytes caps one stored output (the debugger's own cap is 32 MiB).
const MaxBytes = 4 << 20

// ErrNotFound is returned by Get for a job without a stored output (the native engine,
// an output that expired, a verdict from before outputs were kept).
var ErrNotFound = errors.New("no debugger output is stored")

// Store reads and writes outputs.
type Store struct {
	obj jetstream.ObjectStore
}

// Open creates the store when missing, keeping outputs for ttl (0: forever) with replicas
// copies.
func Open(ctx context.Context, js jetstream.JetStream, ttl time.Duration, replicas int) (*Store, error) {
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: Bucket, Description: "bsodwatch: the whole debugger output behind each verdict",
		TTL: ttl, Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("debugger output store: %w", err)
	}
	return &Store{obj: obj}, nil
}

// Cap returns out cut to MaxBytes: its head and tail, with the cut said in between.
func Cap(out []byte) []byte {
	if len(out) <= MaxBytes {
		return out
	}
	half := MaxBytes / 2
	var b bytes.Buffer
	b.Grow(MaxBytes + 100)
	b.Write(out[:half])
	fmt.Fprintf(&b, "\n\n[bsodwatch: %d bytes of debugger output cut here; %d kept]\n\n", len(out)-2*half, 2*half)
	b.Write(out[len(out)-half:])
	return b.Bytes()
}

// PutOutput stores the output of job id's debugger run, capped.
func (s *Store) PutOutput(ctx context.Context, id string, out []byte) error {
	if _, err := s.obj.PutBytes(ctx, id, Cap(out)); err != nil {
		return fmt.Errorf("store debugger output of %s: %w", id, err)
	}
	return nil
}

// Get returns the stored output of job id.
func (s *Store) Get(ctx context.Context, id string) ([]byte, error) {
	b, err := s.obj.GetBytes(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("debugger output of %s: %w", id, err)
	}
	return b, nil
}
