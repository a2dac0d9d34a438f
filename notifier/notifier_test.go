package notifier

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/secret"
)

// recorder is an Integration that records what it was given and fails as told.
type recorder struct {
	mu   sync.Mutex
	msgs []*chat.Message
	errs []error // returned in turn before succeeding
}

func (r *recorder) Notify(_ context.Context, m *chat.Message) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		err := r.errs[0]
		r.errs = r.errs[1:]
		ce, _ := err.(*chat.Error)
		return ce != nil && ce.Retry, err
	}
	r.msgs = append(r.msgs, m)
	return false, nil
}

func (r *recorder) Render(*chat.Message) ([]byte, error) { return nil, nil }

func (r *recorder) sent() []*chat.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*chat.Message(nil), r.msgs...)
}

// fakeClock is the injectable clock: now moves only when told, sleeps are recorded.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func testNotifier(t *testing.T, to TargetOptions, rec *recorder, log zerolog.Logger) (*Notifier, *target, *fakeClock) {
	t.Helper()
	if to.Name == "" {
		to.Name, to.Type = "t1", TypeConsole
	}
	n, err := New(Options{Targets: []TargetOptions{to}}, &bytes.Buffer{}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
	n.now, n.sleep = clk.now, clk.sleep
	tg := n.targets[0]
	tg.integ = rec
	tg.groups = map[string]*groupState{}
	return n, tg, clk
}

func crash(host, id string) *pipeline.Result {
	r := notifytest.Known()
	r.Job.Host, r.Job.ID = host, id
	r.Marks = pipeline.Marks{}
	return r
}

func TestGroupingWindow(t *testing.T) {
	rec := &recorder{}
	n, tg, clk := testNotifier(t, TargetOptions{}, rec, zerolog.Nop())
	st := newMemStore()
	ctx := context.Background()
	seq := uint64(0)
	feed := func(host string) {
		t.Helper()
		seq++
		if err := n.handle(ctx, tg, st, crash(host, host+string(rune('a'+seq))), seq, nil); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() {
		t.Helper()
		if err := n.flush(ctx, tg, st); err != nil {
			t.Fatal(err)
		}
	}

	feed("FS-01") // first of the bucket: posted at once, flagged new
	for i, h := range []string{"FS-02", "FS-03", "FS-02", "FS-04", "FS-05", "FS-06", "FS-07"} {
		clk.advance(time.Minute)
		feed(h)
		_ = i
	}
	flush() // window still open: nothing yet
	if got := rec.sent(); len(got) != 1 || got[0].Kind != chat.KindVerdict || !got[0].New {
		t.Fatalf("within the window: want one new verdict, got %d messages", len(got))
	}
	clk.advance(time.Hour)
	flush()
	got := rec.sent()
	if len(got) != 2 || got[1].Kind != chat.KindUpdate {
		t.Fatalf("after the window: want verdict + update, got %d", len(got))
	}
	g := got[1].Group
	if g.Count != 8 || len(g.Hosts) != 7 || g.Window != "hour" || got[1].New {
		t.Errorf("update group = count %d, hosts %v, window %q, new %v; want 8 crashes on 7 hosts in the hour, not new", g.Count, g.Hosts, g.Window, got[1].New)
	}
	// The next window collects further repeats into the next update.
	clk.advance(time.Minute)
	feed("FS-08")
	flush()
	if len(rec.sent()) != 2 {
		t.Fatalf("repeat in the second window was posted at once")
	}
	clk.advance(time.Hour)
	flush()
	got = rec.sent()
	if len(got) != 3 || got[2].Kind != chat.KindUpdate || got[2].Group.Count != 1 || got[2].Group.Updates != 2 {
		t.Fatalf("second update: got %d messages, last %+v", len(got), got[len(got)-1].Group)
	}
	// A quiet window forgets the group: the next crash is a verdict again, not new.
	clk.advance(time.Hour)
	flush()
	if len(tg.groups) != 0 {
		t.Fatalf("quiet window did not close the group: %d open", len(tg.groups))
	}
	clk.advance(time.Minute)
	feed("FS-09")
	got = rec.sent()
	if len(got) != 4 || got[3].Kind != chat.KindVerdict || got[3].New {
		t.Fatalf("after a quiet window: want a verdict that is not new, got %+v", got[len(got)-1])
	}
}

func TestGroupingPerTargetWindowAndRedelivery(t *testing.T) {
	rec := &recorder{}
	n, tg, clk := testNotifier(t, TargetOptions{Name: "short", Type: TypeConsole, GroupWindow: 5 * time.Minute}, rec, zerolog.Nop())
	st := newMemStore()
	ctx := context.Background()
	if tg.window != 5*time.Minute {
		t.Fatalf("window %v, want the target's 5m", tg.window)
	}
	_ = n.handle(ctx, tg, st, crash("A", "1"), 1, nil)
	clk.advance(time.Minute)
	_ = n.handle(ctx, tg, st, crash("B", "2"), 2, nil)
	// The same message again (redelivery) and after a restart (fresh lastSeq, stored groups).
	_ = n.handle(ctx, tg, st, crash("B", "2"), 2, nil)
	tg.lastSeq = 0
	tg.groups, _ = st.Groups(ctx, tg.name)
	_ = n.handle(ctx, tg, st, crash("B", "2"), 2, nil)
	clk.advance(5 * time.Minute)
	if err := n.flush(ctx, tg, st); err != nil {
		t.Fatal(err)
	}
	got := rec.sent()
	if len(got) != 2 || got[1].Group.Count != 2 || !strings.Contains(got[1].Group.Window, "5 minutes") {
		t.Fatalf("want verdict + update of 2 crashes in 5 minutes, got %d messages (%+v)", len(got), got[len(got)-1].Group)
	}
}

func TestNoGroupingAndFailedArePostedEach(t *testing.T) {
	rec := &recorder{}
	n, tg, _ := testNotifier(t, TargetOptions{Name: "all", Type: TypeConsole, NoGrouping: true}, rec, zerolog.Nop())
	st := newMemStore()
	for i := 1; i <= 3; i++ {
		if err := n.handle(context.Background(), tg, st, crash("H", string(rune('0'+i))), uint64(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.sent(); len(got) != 3 || !got[0].New || got[1].New {
		t.Fatalf("want 3 verdicts, only the first new; got %d", len(got))
	}
}

func TestRoutes(t *testing.T) {
	known := notifytest.Known()
	unknown := notifytest.Unknown()
	failed := notifytest.Failed()
	low := notifytest.Known()
	low.Matches = []rules.Match{{ID: "KI-1", Severity: "low", Tags: []string{"storage"}}}
	low.Job.HostTags = []string{"lab"}
	// Unexpected reboots without a bug check: alone, and the one that made a crash loop.
	reboot := notifytest.Unknown()
	reboot.Verdict = &analysis.Verdict{Kind: analysis.KindReboot, Headline: "Unexpected reboot at 11:12 UTC without a bug check", Bucket: "reboot"}
	reboot.Analysis, reboot.Job.HostTags = nil, []string{"lab"}
	loop := *reboot
	loop.Marks.CrashLoop = true
	tests := []struct {
		name  string
		route Route
		want  map[string]bool
	}{
		{"all", Route{}, map[string]bool{"known": true, "unknown": true, "failed": true, "low": true, "loop": true}},
		{"every reboot", Route{Reboots: RebootsAll}, map[string]bool{"known": true, "unknown": true, "failed": true, "low": true, "reboot": true, "loop": true}},
		{"no reboots", Route{Reboots: RebootsNone}, map[string]bool{"known": true, "unknown": true, "failed": true, "low": true}},
		{"reboots of lab hosts", Route{Reboots: RebootsAll, HostTags: []string{"lab"}}, map[string]bool{"low": true, "reboot": true, "loop": true}},
		{"unknown only", Route{Verdicts: []string{"unknown", "failed"}}, map[string]bool{"unknown": true, "failed": true, "loop": true}},
		{"known only", Route{Verdicts: []string{"known"}}, map[string]bool{"known": true, "low": true}},
		{"severity", Route{Severities: []string{"HIGH", "critical"}}, map[string]bool{"known": true}},
		{"rule tag", Route{RuleTags: []string{"storage"}}, map[string]bool{"low": true}},
		{"host tag", Route{HostTags: []string{"prod"}}, map[string]bool{"known": true}},
		{"and", Route{Verdicts: []string{"known"}, HostTags: []string{"lab"}}, map[string]bool{"low": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, r := range map[string]*pipeline.Result{"known": known, "unknown": unknown, "failed": failed, "low": low, "reboot": reboot, "loop": &loop} {
				if got := tt.route.Match(r); got != tt.want[name] {
					t.Errorf("%s: Match = %v, want %v", name, got, tt.want[name])
				}
			}
		})
	}
}

func TestReprocessedPostedOnlyWhenKnownIssueChanged(t *testing.T) {
	rec := &recorder{}
	n, tg, _ := testNotifier(t, TargetOptions{}, rec, zerolog.Nop())
	st := newMemStore()
	same := crash("H", "1")
	same.Reprocessed, same.PreviousMatches = true, []string{"KI-0042"}
	changed := crash("H", "2")
	changed.Reprocessed, changed.PreviousMatches = true, []string{"KI-0001"}
	_ = n.handle(context.Background(), tg, st, same, 1, nil)
	_ = n.handle(context.Background(), tg, st, changed, 2, nil)
	got := rec.sent()
	if len(got) != 1 || got[0].Result.Job.ID != "2" {
		t.Fatalf("want only the changed verdict posted, got %d", len(got))
	}
}

// A verdict re-issued only because its dump was pruned is not posted again; one reprocessed
// after its dump was pruned is, when its known issue changed.
func TestPrunedReissueNotPosted(t *testing.T) {
	rec := &recorder{}
	n, tg, _ := testNotifier(t, TargetOptions{}, rec, zerolog.Nop())
	st := newMemStore()
	first := crash("H", "1")
	pruned := crash("H", "1")
	pruned.PrunedAt = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	later := crash("H", "1")
	later.PrunedAt, later.Reprocessed, later.PreviousMatches = pruned.PrunedAt, true, []string{"KI-0001"}
	for i, r := range []*pipeline.Result{first, pruned, later} {
		if err := n.handle(context.Background(), tg, st, r, uint64(i+1), nil); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.sent()
	if len(got) != 2 || !got[0].Result.PrunedAt.IsZero() || !got[1].Result.Reprocessed {
		t.Fatalf("posted %d messages, want the first verdict and the reprocessed one", len(got))
	}
}

func TestRetryHonoursRetryAfterAndBackoff(t *testing.T) {
	rec := &recorder{errs: []error{
		&chat.Error{Reason: chat.ReasonServerError, Status: 500, Retry: true},
		&chat.Error{Reason: chat.ReasonRateLimited, Status: 429, Retry: true, RetryAfter: 30 * time.Second},
		&chat.Error{Reason: chat.ReasonNetwork, Retry: true},
	}}
	n, tg, clk := testNotifier(t, TargetOptions{}, rec, zerolog.Nop())
	kept := 0
	if err := n.deliver(context.Background(), tg, &chat.Message{Kind: chat.KindVerdict, Result: crash("H", "1")}, func() { kept++ }); err != nil {
		t.Fatal(err)
	}
	if len(rec.sent()) != 1 {
		t.Fatalf("not delivered after retries")
	}
	// Backoff 1s, 2s, 4s (±20 %), except where the target said Retry-After: 30s.
	s := clk.sleeps
	if len(s) != 3 || s[0] < 800*time.Millisecond || s[0] > 1200*time.Millisecond || s[1] != 30*time.Second ||
		s[2] < 3200*time.Millisecond || s[2] > 4800*time.Millisecond {
		t.Fatalf("sleeps %v: want ~1s, exactly 30s (Retry-After), ~4s", s)
	}
	if kept < 4 {
		t.Errorf("keepalive called %d times, want one per attempt", kept)
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	rec := &recorder{errs: []error{&chat.Error{Reason: chat.ReasonClientError, Status: 404, Msg: "no_service"}}}
	var logs bytes.Buffer
	n, tg, clk := testNotifier(t, TargetOptions{}, rec, zerolog.New(&logs))
	if err := n.deliver(context.Background(), tg, &chat.Message{Kind: chat.KindVerdict, Result: crash("H", "1")}, nil); err != nil {
		t.Fatalf("a permanent failure is settled (logged), not returned: %v", err)
	}
	if len(clk.sleeps) != 0 || len(rec.sent()) != 0 {
		t.Fatalf("retried a 404: sleeps %v", clk.sleeps)
	}
	if !strings.Contains(logs.String(), "no_service") || !strings.Contains(logs.String(), `"reason":"client_error"`) {
		t.Errorf("the reason is not logged: %s", logs.String())
	}
}

func TestShutdownDuringRetryLeavesMessageUnsettled(t *testing.T) {
	rec := &recorder{errs: []error{&chat.Error{Reason: chat.ReasonServerError, Retry: true}}}
	n, tg, _ := testNotifier(t, TargetOptions{}, rec, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	n.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	if err := n.deliver(ctx, tg, &chat.Message{Kind: chat.KindVerdict, Result: crash("H", "1")}, nil); err != errShutdown {
		t.Fatalf("err = %v, want errShutdown", err)
	}
}

// The secret URL must not reach the logs, whatever the target answers.
func TestSecretURLNeverLogged(t *testing.T) {
	status := []int{500, 404}
	var i int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Echo the path back: a target that quotes the URL in its error body.
		if i < len(status) {
			w.WriteHeader(status[i])
			i++
		}
		_, _ = w.Write([]byte("bad hook " + r.URL.Path))
	}))
	defer srv.Close()
	secretURL := srv.URL + "/hooks/T000/B000/XXXXsecretXXXX"
	t.Setenv("N7_TEST_HOOK", secretURL)
	var logs bytes.Buffer
	n, err := New(Options{Targets: []TargetOptions{{Name: "s", Type: TypeSlack, URLEnv: "N7_TEST_HOOK"}}}, nil, zerolog.New(&logs).Level(zerolog.DebugLevel), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.sleep = func(context.Context, time.Duration) error { return nil }
	tg := n.targets[0]
	if err := n.deliver(context.Background(), tg, &chat.Message{Kind: chat.KindVerdict, Result: crash("H", "1")}, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "will retry") || !strings.Contains(logs.String(), "not retried") {
		t.Fatalf("expected a retry then a permanent failure in the logs:\n%s", logs.String())
	}
	notifytest.AssertNoSecret(t, logs.String(), tg.secrets[0])
	// Also a bad URL in config: the error must not quote it.
	t.Setenv("N7_TEST_HOOK", "ftp://user:XXXXsecretXXXX@x/hooks/XXXXsecretXXXX")
	_, err = New(Options{Targets: []TargetOptions{{Name: "s", Type: TypeSlack, URLEnv: "N7_TEST_HOOK"}}}, nil, zerolog.Nop(), nil)
	if err == nil || strings.Contains(err.Error(), "XXXXsecretXXXX") {
		t.Fatalf("bad URL: err = %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "teams.url")
	tests := []struct {
		name string
		o    Options
		want string // the whole error: every problem, keyed
	}{
		{"no targets", Options{}, "targets: no targets configured"},
		{"bad name", Options{Targets: []TargetOptions{{Name: "Ops Chat", Type: TypeConsole}}},
			`targets[0].name: "Ops Chat": lower-case letters, digits, - or _ (at most 64)`},
		{"dup", Options{Targets: []TargetOptions{{Name: "a", Type: TypeConsole}, {Name: "a", Type: TypeConsole}}},
			`targets[1].name: "a" is also the name of targets[0]`},
		{"type", Options{Targets: []TargetOptions{{Name: "a", Type: "discord"}}},
			`targets[0].type: "discord": want slack, teams, mattermost, webhook or console`},
		{"no url", Options{Targets: []TargetOptions{{Name: "a", Type: TypeSlack}}},
			"targets[0].url: empty: slack needs a webhook URL (url_file, url_env or url)"},
		{"verdict", Options{Targets: []TargetOptions{{Name: "a", Type: TypeConsole, Route: Route{Verdicts: []string{"bad"}}}}},
			`targets[0].route.verdicts[0]: "bad": want known, unknown or failed`},
		{"reboots", Options{Targets: []TargetOptions{{Name: "a", Type: TypeConsole, Route: Route{Reboots: "some"}}}},
			`targets[0].route.reboots: "some": want crash_loop, all or none`},
		{"missing url file", Options{Targets: []TargetOptions{{Name: "t", Type: TypeTeams, URLFile: missing}}},
			"targets[0].url_file: read secret file: open " + missing + ": " + notExist(t)},
		{"all at once", Options{DeliveredTTL: time.Millisecond, Targets: []TargetOptions{
			{Name: "A", Type: TypeConsole}, {Name: "b", Type: "pager"}, {Name: "c", Type: TypeWebhook, URL: secret.New("ftp://x")}}},
			`delivered_ttl: 1ms: want at least 1s; targets[0].name: "A": lower-case letters, digits, - or _ (at most 64); ` +
				`targets[1].type: "pager": want slack, teams, mattermost, webhook or console; targets[2].url: not an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	doc := `
fetcher:
  hosts: [a]
notifier:
  group_window: 30m
  targets:
    - name: ops
      type: slack
      url_env: SLACK_HOOK
      group_window: 2h
      route: {verdicts: [known], severities: [high]}
    - name: log
      type: console
`
	o, err := ParseOptions([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Targets) != 2 || o.Targets[0].URLEnv != "SLACK_HOOK" || o.Targets[0].GroupWindow != 2*time.Hour ||
		o.GroupWindow != 30*time.Minute || o.Targets[0].Route.Severities[0] != "high" {
		t.Fatalf("parsed %+v", o)
	}
	if o.WithDefaults().Targets[1].GroupWindow != 30*time.Minute {
		t.Errorf("target without a window did not take the notifier's")
	}
	_, err = ParseOptions([]byte("notifier:\n  targets:\n    - name: a\n      type: console\n      colour: red\n"))
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown key accepted: %v", err)
	}
	o, err = ParseOptions([]byte("targets:\n  - name: a\n    type: slack\n    url: https://hooks.example/abc\n"))
	if err != nil || o.Targets[0].URL.Reveal() != "https://hooks.example/abc" {
		t.Fatalf("bare section: %v %+v", err, o)
	}
	if s := strings.TrimSpace(mustYAML(t, o)); strings.Contains(s, "hooks.example") {
		t.Errorf("marshalled options show the URL: %s", s)
	}
}

// A crash after a post and before the ack (or before the group state was written) must not
// post again when the message comes back: the delivery record, written between the post and
// the ack, stops it. Covered for verdicts posted on their own, the first verdict of a group
// window and a group update.
func TestRedeliveryAfterRecordedDeliveryIsNotPosted(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		to   TargetOptions
	}{
		{"no grouping", TargetOptions{Name: "each", Type: TypeConsole, NoGrouping: true}},
		{"grouping", TargetOptions{Name: "grp", Type: TypeConsole}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			n, tg, _ := testNotifier(t, tc.to, rec, zerolog.Nop())
			st := newMemStore()
			r := crash("WS-1", "job-1")
			if err := n.handle(ctx, tg, st, r, 7, nil); err != nil {
				t.Fatal(err)
			}
			// Killed before the ack and before the group state was written: a restarted
			// notifier has no memory and no group, only the delivery record.
			st.groups = map[string]map[string]*groupState{}
			tg.lastSeq, tg.groups = 0, map[string]*groupState{}
			if err := n.handle(ctx, tg, st, crash("WS-1", "job-1"), 7, nil); err != nil {
				t.Fatal(err)
			}
			if got := len(rec.sent()); got != 1 {
				t.Fatalf("%d posts after a redelivery, want 1", got)
			}
			if tc.to.NoGrouping {
				return
			}
			// The window was still opened, so a repeat is folded into it, not posted.
			if g := tg.groups[r.Bucket()]; g == nil || g.Count != 1 {
				t.Fatalf("group after the redelivery: %+v", g)
			}
			// A different result of the same bucket is another delivery.
			if err := n.handle(ctx, tg, st, crash("WS-2", "job-2"), 8, nil); err != nil {
				t.Fatal(err)
			}
			if got := len(rec.sent()); got != 1 {
				t.Fatalf("repeat posted at once: %d posts", got)
			}
		})
	}
}

func TestGroupUpdateNotRepeatedAfterCrash(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	n, tg, clk := testNotifier(t, TargetOptions{Name: "grp", Type: TypeConsole, GroupWindow: 10 * time.Minute}, rec, zerolog.Nop())
	st := newMemStore()
	for i, h := range []string{"A", "B", "C"} {
		if err := n.handle(ctx, tg, st, crash(h, "j"+h), uint64(i+1), nil); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := st.Groups(ctx, tg.name) // the state a crash right after the update's post leaves
	clk.advance(11 * time.Minute)
	if err := n.flush(ctx, tg, st); err != nil {
		t.Fatal(err)
	}
	if got := rec.sent(); len(got) != 2 || got[1].Kind != chat.KindUpdate {
		t.Fatalf("want verdict + update, got %d", len(got))
	}
	st.groups[tg.name] = before
	tg.groups, _ = st.Groups(ctx, tg.name)
	if err := n.flush(ctx, tg, st); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.sent()); got != 2 {
		t.Fatalf("the update was posted again after the crash: %d messages", got)
	}
	// The next window's update is a new delivery.
	if err := n.handle(ctx, tg, st, crash("D", "jD"), 4, nil); err != nil {
		t.Fatal(err)
	}
	clk.advance(11 * time.Minute)
	if err := n.flush(ctx, tg, st); err != nil {
		t.Fatal(err)
	}
	if got := rec.sent(); len(got) != 3 || got[2].Kind != chat.KindUpdate {
		t.Fatalf("next window's update missing: %d messages", len(got))
	}
}

// An unexpected reboot without a bug check is recorded, not posted, unless it marks a crash
// loop; posted, it is never a "new bucket".
func TestRebootsPostedOnCrashLoopOnly(t *testing.T) {
	rec := &recorder{}
	n, tg, _ := testNotifier(t, TargetOptions{Name: "ops", Type: TypeConsole, NoGrouping: true}, rec, zerolog.Nop())
	st := newMemStore()
	reboot := func(id string, loop bool) *pipeline.Result {
		r := &pipeline.Result{Version: 2, Status: pipeline.StatusOK, Engine: "eventlog", Matches: []rules.Match{},
			Job:     pipeline.Job{ID: id, Host: "WEB01", Event: &analysis.CrashEvent{Kind: analysis.EventUnexpectedReboot, Record: 316}},
			Verdict: &analysis.Verdict{Kind: analysis.KindReboot, Headline: "Unexpected reboot at 11:12 UTC without a bug check", Bucket: "reboot"}}
		r.Marks.CrashLoop = loop
		return r
	}
	if err := n.handle(context.Background(), tg, st, reboot("r1", false), 1, nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.sent(); len(got) != 0 {
		t.Fatalf("a lone reboot was posted: %d messages", len(got))
	}
	if err := n.handle(context.Background(), tg, st, reboot("r2", true), 2, nil); err != nil {
		t.Fatal(err)
	}
	got := rec.sent()
	if len(got) != 1 || got[0].Result.Job.ID != "r2" || got[0].New {
		t.Fatalf("want the crash-loop reboot posted, not new; got %d messages", len(got))
	}
}

// notExist is the operating system's own words for a missing file: "no such file or
// directory" on Linux, other words on Windows.
func notExist(t *testing.T) string {
	_, err := os.Stat(filepath.Join(t.TempDir(), "missing"))
	return errors.Unwrap(err).Error()
}
