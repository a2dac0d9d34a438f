// Package kvwatch follows a JetStream key-value bucket for the in-memory copies that
// bsodwatch keeps of small buckets (silences, host states).
package kvwatch

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Follow calls apply for every stored entry of kv, then for every change, until ctx ends;
// loaded (may be nil) is called once every stored entry has been seen. what names the bucket
// in the error of a watch that cannot start. It returns nil when ctx ends or the watch closes.
func Follow(ctx context.Context, kv jetstream.KeyValue, what string, apply func(key string, op jetstream.KeyValueOp, value []byte), loaded func()) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", what, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if u == nil { // the initial values are all delivered
				if loaded != nil {
					loaded()
				}
				continue
			}
			apply(u.Key(), u.Operation(), u.Value())
		}
	}
}
