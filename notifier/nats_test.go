package notifier

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/notifier/webhook"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	return embeddedtest.Start(t, "").JS
}

func publish(t *testing.T, js jetstream.JetStream, r *pipeline.Result) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, pipeline.ResultSubject(r.Job.ID), b, jetstream.WithMsgID(r.MsgID())); err != nil {
		t.Fatal(err)
	}
}

// hookServer is a webhook target that counts deliveries by delivery ID and can be down.
type hookServer struct {
	*httptest.Server
	down     atomic.Bool
	mu       sync.Mutex
	got      map[string]int
	kinds    []string
	groups   []int
	refusals atomic.Int32
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{got: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.down.Load() {
			h.refusals.Add(1)
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var env webhook.Envelope
		_ = json.Unmarshal(b, &env)
		h.mu.Lock()
		h.got[r.Header.Get(webhook.HeaderDelivery)]++
		h.kinds = append(h.kinds, env.Kind)
		if env.Group != nil {
			h.groups = append(h.groups, env.Group.Count)
		}
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) snapshot() (unique, total int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.got {
		unique++
		total += n
	}
	return unique, total
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fastOptions(targets ...TargetOptions) Options {
	return Options{
		Targets: targets, FlushInterval: 50 * time.Millisecond, AckWait: 3 * time.Second,
		Retry: RetryOptions{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, Timeout: 5 * time.Second},
	}
}

func runNotifier(t *testing.T, n *Notifier, js jetstream.JetStream) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, js, 1) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not stop")
		}
	}
}

// A target that is down for a while gets everything once it is back, nothing twice, and
// the target that stayed up got everything meanwhile.
func TestTargetDownThenUpThroughJetStream(t *testing.T) {
	js := startJetStream(t)
	down, up := newHookServer(t), newHookServer(t)
	down.down.Store(true)
	n, err := New(fastOptions(
		TargetOptions{Name: "flaky", Type: TypeWebhook, URL: secretOf(down.URL + "/hook/flaky-secret"), NoGrouping: true},
		TargetOptions{Name: "steady", Type: TypeWebhook, URL: secretOf(up.URL + "/hook/steady-secret"), NoGrouping: true},
	), io.Discard, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const total = 12
	for i := range total {
		r := crash("H"+string(rune('A'+i)), "job"+string(rune('a'+i)))
		publish(t, js, r)
	}
	stop := runNotifier(t, n, js)
	defer stop()
	waitFor(t, "the steady target to get every result", func() bool { u, _ := up.snapshot(); return u == total })
	if u, _ := down.snapshot(); u != 0 {
		t.Fatalf("down target accepted %d", u)
	}
	waitFor(t, "the flaky target to refuse a few retries", func() bool { return down.refusals.Load() >= 3 })
	down.down.Store(false)
	waitFor(t, "the flaky target to get every result", func() bool { u, _ := down.snapshot(); return u == total })
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up, if there were one
	for name, h := range map[string]*hookServer{"flaky": down, "steady": up} {
		if u, tot := h.snapshot(); u != total || tot != total {
			t.Errorf("%s: %d unique deliveries, %d in all; want %d each (nothing twice)", name, u, tot, total)
		}
	}
	// Both consumers acked everything.
	for _, name := range []string{"flaky", "steady"} {
		c, err := js.Consumer(context.Background(), pipeline.ResultsStream, ConsumerName(name))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, name+" acks", func() bool {
			info, err := c.Info(context.Background())
			return err == nil && info.NumAckPending == 0 && info.NumPending == 0
		})
	}
}

// A pending group update survives a restart: it is in the KV bucket, and the restarted
// notifier posts it when the window ends.
func TestPendingUpdateSurvivesRestart(t *testing.T) {
	js := startJetStream(t)
	hook := newHookServer(t)
	clk := &fakeClock{t: time.Now()}
	mk := func() *Notifier {
		n, err := New(fastOptions(TargetOptions{Name: "grp", Type: TypeWebhook, URL: secretOf(hook.URL + "/hook/x"), GroupWindow: time.Hour}),
			io.Discard, zerolog.Nop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		n.now = clk.now
		return n
	}
	for i, h := range []string{"FS-01", "FS-02", "FS-03", "FS-02"} {
		publish(t, js, crash(h, "g"+string(rune('a'+i))))
	}
	stop := runNotifier(t, mk(), js)
	waitFor(t, "the first verdict", func() bool { u, _ := hook.snapshot(); return u == 1 })
	c, err := js.Consumer(context.Background(), pipeline.ResultsStream, ConsumerName("grp"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the repeats to be folded and acked", func() bool {
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	stop()
	if u, _ := hook.snapshot(); u != 1 {
		t.Fatalf("repeats were posted before the window ended: %d messages", u)
	}
	clk.advance(time.Hour + time.Minute)
	stop = runNotifier(t, mk(), js)
	defer stop()
	waitFor(t, "the update after restart", func() bool { u, _ := hook.snapshot(); return u == 2 })
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.kinds) != 2 || hook.kinds[1] != "update" || len(hook.groups) != 1 || hook.groups[0] != 4 {
		t.Fatalf("kinds %v, group counts %v: want a verdict then an update of 4 crashes", hook.kinds, hook.groups)
	}
}

// A notifier killed between a successful post and the ack: the message is redelivered to the
// restarted notifier, which finds the delivery record in the KV bucket, does not post again
// and acks. The result after it is posted as usual.
func TestRedeliveryAfterRecordedDeliveryThroughJetStream(t *testing.T) {
	js := startJetStream(t)
	hook := newHookServer(t)
	mk := func() *Notifier {
		n, err := New(fastOptions(TargetOptions{Name: "hook", Type: TypeWebhook, URL: secretOf(hook.URL + "/hook/x"), NoGrouping: true}),
			io.Discard, zerolog.Nop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	first, second := crash("WS-1", "kill-1"), crash("WS-2", "kill-2")
	publish(t, js, first)
	publish(t, js, second)

	// The process that dies: it posts the first result (stream sequence 1) through the same
	// path as the consumer, and never acks.
	ctx := context.Background()
	dying := mk()
	st, err := openKVStore(ctx, js, 1, time.Hour, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	tg := dying.targets[0]
	tg.groups = map[string]*groupState{}
	if err := dying.handle(ctx, tg, st, first, 1, nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := hook.snapshot(); u != 1 {
		t.Fatalf("%d posts before the crash, want 1", u)
	}

	stop := runNotifier(t, mk(), js)
	defer stop()
	waitFor(t, "the second result", func() bool { u, _ := hook.snapshot(); return u == 2 })
	c, err := js.Consumer(ctx, pipeline.ResultsStream, ConsumerName("hook"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both results acked", func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if u, tot := hook.snapshot(); u != 2 || tot != 2 {
		t.Fatalf("%d distinct posts, %d in all; want 2 and 2 (the first not posted again)", u, tot)
	}
}

// Delivery records expire by themselves; group state and the buckets seen do not.
func TestDeliveryRecordsExpire(t *testing.T) {
	js := startJetStream(t)
	ctx := context.Background()
	// The bucket as an earlier notifier left it, without per-key TTLs: opening it upgrades it.
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: StateBucket, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	st, err := openKVStore(ctx, js, 1, time.Second, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MarkDelivered(ctx, "t", "result:a:1"); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkDelivered(ctx, "t", "result:a:1"); err != nil {
		t.Fatalf("recording twice: %v", err)
	}
	if err := st.PutGroup(ctx, "t", &groupState{Bucket: "B", Count: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target, key string
		want        bool
	}{{"t", "result:a:1", true}, {"u", "result:a:1", false}, {"t", "result:b:1", false}} {
		if got, err := st.Delivered(ctx, tc.target, tc.key); err != nil || got != tc.want {
			t.Errorf("Delivered(%s, %s) = %v, %v; want %v", tc.target, tc.key, got, err, tc.want)
		}
	}
	waitFor(t, "the record to expire", func() bool {
		got, err := st.Delivered(ctx, "t", "result:a:1")
		return err == nil && !got
	})
	if g, err := st.Groups(ctx, "t"); err != nil || g["B"] == nil {
		t.Fatalf("group state lost with the records: %v %v", g, err)
	}
}
