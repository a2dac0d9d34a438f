package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/pipeline"
)

// ErrRaced is returned by Reissue when the stored verdict was replaced after it was read
// (by an analyzer or another re-issue): the newer one is left alone.
var ErrRaced = errors.New("verdict replaced meanwhile")

// Reissue stores r in place of the verdict that Scan read at seq, only if that is still the
// last verdict of its dump (an expected-sequence publish), so that a re-issue never
// overwrites a newer verdict.
func Reissue(ctx context.Context, js jetstream.JetStream, r *pipeline.Result, seq uint64) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode verdict %s: %w", r.Job.ID, err)
	}
	_, err = js.Publish(ctx, pipeline.ResultSubject(r.Job.ID), data,
		jetstream.WithMsgID(r.MsgID()), jetstream.WithExpectLastSequencePerSubject(seq))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return ErrRaced
		}
		return fmt.Errorf("publish verdict %s: %w", r.Job.ID, err)
	}
	return nil
}
