package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// JobsStream reads the share paths of the jobs in the jobs stream. It reads messages by
// sequence (next by subject), because a work-queue stream refuses a second consumer.
type JobsStream struct{ JS jetstream.JetStream }

// QueuedSharePaths implements Jobs.
func (j JobsStream) QueuedSharePaths(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	s, err := j.JS.Stream(ctx, pipeline.JobsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", pipeline.JobsStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", pipeline.JobsStream, err)
	}
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(pipeline.JobsSubject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", pipeline.JobsStream, err)
		}
		var job struct {
			SharePath string `json:"share_path"`
		}
		if json.Unmarshal(m.Data, &job) == nil && job.SharePath != "" {
			out[job.SharePath] = true
		}
		seq = m.Sequence + 1
	}
	return out, nil
}

// HistoryMarker marks verdicts pruned in the results stream (history.MarkPruned).
type HistoryMarker struct {
	JS     jetstream.JetStream
	Reader *history.Reader
}

// MarkPruned implements Marker.
func (h HistoryMarker) MarkPruned(ctx context.Context, jobID string, at time.Time) error {
	return history.MarkPruned(ctx, h.JS, h.Reader, jobID, at)
}
