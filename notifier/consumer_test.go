package notifier

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

type stubMsg struct {
	jetstream.Msg
	id string
}

// TestPumpSurvivesMissedHeartbeats: a pull the server lost shows as ErrNoHeartbeat from the
// iterator; the target keeps consuming (it used to stop and restart 5 s later, after a
// 30 s stall), counts it and says so once per miss.
func TestPumpSurvivesMissedHeartbeats(t *testing.T) {
	var logs bytes.Buffer
	n, _, _ := testNotifier(t, TargetOptions{}, &recorder{}, zerolog.New(&logs))
	seq := []any{jetstream.ErrNoHeartbeat, stubMsg{id: "a"}, jetstream.ErrNoHeartbeat, stubMsg{id: "b"}, jetstream.ErrMsgIteratorClosed}
	next := func(...jetstream.NextOpt) (jetstream.Msg, error) {
		v := seq[0]
		seq = seq[1:]
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(stubMsg), nil
	}
	msgs := make(chan jetstream.Msg)
	done := make(chan error, 1)
	go func() { done <- n.pump(context.Background(), "t1", next, msgs) }()
	var got []string
	for range 2 {
		got = append(got, (<-msgs).(stubMsg).id)
	}
	if err := <-done; !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		t.Errorf("pump ended with %v, want the iterator's close", err)
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("messages %v, want a,b", got)
	}
	var m dto.Metric
	if err := n.m.missedHeartbeats.WithLabelValues("t1").Write(&m); err != nil {
		t.Fatal(err)
	}
	if c := m.GetCounter().GetValue(); c != 2 {
		t.Errorf("missed heartbeats counted %v, want 2", c)
	}
	if c := strings.Count(logs.String(), "missed the server's heartbeats"); c != 2 {
		t.Errorf("%d log lines about missed heartbeats, want 2:\n%s", c, logs.String())
	}
}

// TestPumpStopsOnCancel: with ctx ended, a message not yet taken is not handed over and pump
// returns nil.
func TestPumpStopsOnCancel(t *testing.T) {
	n, _, _ := testNotifier(t, TargetOptions{}, &recorder{}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	next := func(...jetstream.NextOpt) (jetstream.Msg, error) { cancel(); return stubMsg{id: "a"}, nil }
	if err := n.pump(ctx, "t1", next, make(chan jetstream.Msg)); err != nil {
		t.Errorf("pump after cancel = %v, want nil", err)
	}
}
