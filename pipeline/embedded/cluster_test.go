package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
)

// TestClusterSurvivesNodeLoss runs three embedded servers as a JetStream cluster, creates the
// streams with three replicas, and stops the jobs stream's leader while jobs are being
// published and consumed: every job must still arrive, and the work queue must end empty.
func TestClusterSurvivesNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test takes a few seconds of leader elections")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	nodes, err := embedded.ClusterOptions("bsw", 3, func(i int) string { return filepath.Join(dir, fmt.Sprint(i)) })
	if err != nil {
		t.Fatal(err)
	}
	servers := make([]*embedded.Server, len(nodes))
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		if servers[i], err = embedded.Start(n.Options); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		urls[i] = n.ClientURL
	}
	defer func() {
		for _, s := range servers {
			if s != nil {
				s.Shutdown()
			}
		}
	}()

	nc, err := pipeline.Connect(ctx, pipeline.NATSOptions{URLs: urls, Replicas: 3}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The cluster elects a meta leader a moment after start; until then stream creation fails.
	retry(ctx, t, "ensure streams", func() error {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return pipeline.EnsureStreams(actx, js, pipeline.StreamOptions{Replicas: 3})
	})
	stream, err := js.Stream(ctx, pipeline.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := stream.CachedInfo().Config.Replicas; got != 3 {
		t.Fatalf("jobs stream replicas = %d, want 3", got)
	}
	var cons jetstream.Consumer
	retry(ctx, t, "create consumer", func() (err error) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cons, err = js.CreateOrUpdateConsumer(actx, pipeline.JobsStream, jetstream.ConsumerConfig{
			Durable: pipeline.AnalyzerDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second,
		})
		return err
	})

	const total = 200
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("job-%03d", i)
			retry(ctx, t, "publish "+id, func() error {
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				_, err := js.Publish(actx, pipeline.JobsSubject, []byte(id), jetstream.WithMsgID(id))
				return err
			})
		}
	}
	got := map[string]int{}
	consume := func(want int) {
		for len(got) < want {
			if ctx.Err() != nil {
				t.Fatalf("timed out with %d of %d jobs received", len(got), want)
			}
			batch, err := cons.Fetch(50, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				time.Sleep(100 * time.Millisecond) // leader change in progress
				continue
			}
			for m := range batch.Messages() {
				got[string(m.Data())]++
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_ = m.DoubleAck(actx) // a lost ack means a redelivery, counted above
				cancel()
			}
		}
	}

	publish(0, total/2)
	consume(total / 4)

	var leader string
	retry(ctx, t, "stream info", func() error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		info, err := stream.Info(actx)
		if err == nil {
			leader = info.Cluster.Leader
		}
		return err
	})
	stopped := -1
	for i, n := range nodes {
		if n.ServerName == leader {
			stopped = i
		}
	}
	if stopped < 0 {
		t.Fatalf("jobs stream leader %q is none of the nodes", leader)
	}
	servers[stopped].Shutdown()
	servers[stopped] = nil
	t.Logf("stopped %s, the jobs stream leader", leader)

	publish(total/2, total)
	// Re-publishing a job is deduplicated by its ID even across the leader change.
	retry(ctx, t, "republish", func() error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ack, err := js.Publish(actx, pipeline.JobsSubject, []byte("job-000"), jetstream.WithMsgID("job-000"))
		if err == nil && !ack.Duplicate {
			t.Error("re-published job-000 was not recognised as a duplicate")
		}
		return err
	})
	consume(total)

	for i := range total {
		if id := fmt.Sprintf("job-%03d", i); got[id] == 0 {
			t.Errorf("%s lost", id)
		}
	}
	if len(got) != total {
		t.Errorf("received %d distinct jobs, want %d", len(got), total)
	}
	retry(ctx, t, "stream drained", func() error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		info, err := stream.Info(actx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("%d jobs still in the work queue", info.State.Msgs)
		}
		if info.Cluster.Leader == "" || info.Cluster.Leader == leader {
			return fmt.Errorf("no new leader yet (%q)", info.Cluster.Leader)
		}
		return nil
	})
}

// retry calls fn until it succeeds or ctx ends; cluster operations fail while leaders change.
func retry(ctx context.Context, t *testing.T, what string, fn func() error) {
	t.Helper()
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v (gave up: %v)", what, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		o    embedded.Options
		want string
	}{
		{"no store", embedded.Options{}, "store directory is required"},
		{"bad listen", embedded.Options{StoreDir: t.TempDir(), Listen: "nonsense"}, "bad listen address"},
		{"cluster without name", embedded.Options{StoreDir: t.TempDir(), ClusterListen: "127.0.0.1:0"}, "needs a name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := embedded.Start(tc.o)
			if err == nil {
				s.Shutdown()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestListenAuth checks that a listening server with a token refuses clients without it,
// and that Connect presents it in-process.
func TestListenAuth(t *testing.T) {
	s, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Token: secretToken})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if s.ClientURL() == "" || strings.HasSuffix(s.ClientURL(), ":0") {
		t.Fatalf("ClientURL %q", s.ClientURL())
	}
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Error("connected without the token")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("without token: %v, want an authorization error", err)
	}
	nc, err := s.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}
