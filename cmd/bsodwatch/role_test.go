package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/testlog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

// freeAddr returns a loopback address nobody listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// loopbackNATS is an embedded NATS server on a loopback port, as a separate role meets one,
// and a JetStream client of it for the test.
func loopbackNATS(t *testing.T) (url string, js jetstream.JetStream) {
	t.Helper()
	q := embeddedtest.Listen(t)
	return q.URL, q.JS
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// daemon runs a role command until stop, which returns its exit code and stderr.
type daemon struct {
	cancel context.CancelFunc
	done   chan int
	stderr *testlog.Buffer
}

func startDaemon(t *testing.T, cmd func(context.Context, *env, []string) int, environ map[string]string, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	d := &daemon{cancel: cancel, done: make(chan int, 1), stderr: &testlog.Buffer{}}
	e := &env{Stdout: io.Discard, Stderr: d.stderr, Getenv: func(k string) string { return environ[k] },
		Log: zerolog.New(d.stderr).Level(zerolog.WarnLevel)}
	go func() { d.done <- cmd(ctx, e, args) }()
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code // later calls see it too
		return code
	case <-time.After(60 * time.Second):
		t.Fatal("the command did not stop")
		return -1
	}
}

// waitHealthy polls /healthz until it answers 200 (failing early when the command exits)
// and returns the checks.
func waitHealthy(t *testing.T, d *daemon, addr string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case code := <-d.done:
			d.done <- code
			t.Fatalf("exited with %d before it was healthy:\n%s", code, d.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			var h ops.Health
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return h.Checks
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz on %s never OK (last: %v)\n%s", addr, err, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		return 0
	}
	info, err := s.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The fetcher as its own process: everything from the config file, NATS found through
// $BSODWATCH_CONFIG, streams created, health and metrics served, a dump queued.
func TestFetchDaemonFromConfig(t *testing.T) {
	url, js := loopbackNATS(t)
	metrics := freeAddr(t)
	cfg := writeFile(t, "bsodwatch.yaml", "nats:\n  urls: ["+url+"]\nshare:\n  dir: "+t.TempDir()+
		"\nfetcher:\n  fleet_dir: "+fetchFleet(t)+"\n  stable_after: 50ms\nmetrics:\n  listen: "+metrics+"\n")
	d := startDaemon(t, cmdFetch, map[string]string{configEnv: cfg})
	checks := waitHealthy(t, d, metrics)
	if checks["nats"] != "ok" {
		t.Errorf("checks %v", checks)
	}
	eventually(t, "the dump's job", func() bool { return streamMsgs(t, js, pipeline.JobsStream) == 1 })
	if m := metricsText(t, metrics); !strings.Contains(m, `role="fetcher"`) || !strings.Contains(m, "bsodwatch_fetcher_") {
		t.Errorf("metrics lack the fetcher's:\n%.2000s", m)
	}
	if code := d.stop(t); code != exitInterrupted {
		t.Errorf("exit %d after cancel, want %d\n%s", code, exitInterrupted, d.stderr.String())
	}
}

// The analyzer worker from the config file, with an environment variable and a flag laid
// over it: $BSODWATCH_NATS_URL beats the file's dead nats.urls, --metrics beats the file's
// metrics.listen. /healthz reports NATS and the rules.
func TestAnalyzeWorkerFromConfig(t *testing.T) {
	url, js := loopbackNATS(t)
	fileMetrics, flagMetrics := freeAddr(t), freeAddr(t)
	cfg := writeFile(t, "bsodwatch.yaml", "nats:\n  urls: [nats://"+freeAddr(t)+"]\nanalyzer:\n  share_dir: "+t.TempDir()+
		"\n  engine: native\nmetrics:\n  listen: "+fileMetrics+"\n")
	d := startDaemon(t, cmdAnalyze, map[string]string{natsURLEnv: url}, "--config", cfg, "--metrics", flagMetrics)
	checks := waitHealthy(t, d, flagMetrics)
	if checks["nats"] != "ok" || checks["rules"] != "ok" {
		t.Errorf("checks %v, want nats and rules ok", checks)
	}
	if _, err := http.Get("http://" + fileMetrics + "/healthz"); err == nil {
		t.Error("the file's metrics.listen is served although --metrics overrides it")
	}
	if m := metricsText(t, flagMetrics); !strings.Contains(m, `role="analyzer"`) {
		t.Errorf("metrics lack the analyzer's build info:\n%.2000s", m)
	}
	for _, s := range []string{pipeline.JobsStream, pipeline.ResultsStream} {
		if _, err := js.Stream(context.Background(), s); err != nil {
			t.Errorf("stream %s: %v", s, err)
		}
	}
	if code := d.stop(t); code != exitInterrupted {
		t.Errorf("exit %d after cancel, want %d\n%s", code, exitInterrupted, d.stderr.String())
	}
}

// Precedence of the worker's settings: flags > environment > file > defaults.
func TestWorkerSettingsPrecedence(t *testing.T) {
	cfg := writeFile(t, "bsodwatch.yaml", "nats:\n  urls: [nats://file:4222]\nshare:\n  dir: /srv/dumps\nanalyzer:\n  slots: 3\n  rules_dir: /file/rules\n  backoff: [1m]\nmetrics:\n  listen: 127.0.0.1:9999\n")
	tests := []struct {
		name    string
		environ map[string]string
		args    []string
		check   func(t *testing.T, c *configView)
	}{
		{"file", nil, nil, func(t *testing.T, c *configView) {
			c.want(t, "slots", c.Slots, 3)
			c.want(t, "rules", c.RulesDir, "/file/rules")
			c.want(t, "share from share.dir", c.ShareDir, "/srv/dumps")
			c.want(t, "nats", c.URLs, "nats://file:4222")
			c.want(t, "metrics", c.Metrics, "127.0.0.1:9999")
			c.want(t, "backoff", c.Backoff, "1m0s")
			c.want(t, "engine default", c.Engine, "auto")
		}},
		{"env over file", map[string]string{"BSODWATCH_RULES": "/env/rules", natsURLEnv: "nats://env:4222", "BSODWATCH_SHARE": "/env/share"}, nil, func(t *testing.T, c *configView) {
			c.want(t, "rules", c.RulesDir, "/env/rules")
			c.want(t, "share", c.ShareDir, "/env/share")
			c.want(t, "nats", c.URLs, "nats://env:4222")
			c.want(t, "slots", c.Slots, 3)
		}},
		{"flags over env", map[string]string{"BSODWATCH_RULES": "/env/rules", natsURLEnv: "nats://env:4222"},
			[]string{"--rules", "/flag/rules", "--nats", "nats://a:4222,nats://b:4222", "--slots", "5", "--metrics", "", "--backoff", "2s,4s"}, func(t *testing.T, c *configView) {
				c.want(t, "rules", c.RulesDir, "/flag/rules")
				c.want(t, "nats", c.URLs, "nats://a:4222,nats://b:4222")
				c.want(t, "slots", c.Slots, 5)
				c.want(t, "metrics off", c.Metrics, "")
				c.want(t, "backoff", c.Backoff, "2s,4s")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tt.environ[k] }}
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			wf := addWorkerFlags(fs)
			if err := fs.Parse(append([]string{"--config", cfg}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			c, err := wf.merge(e, fs)
			if err != nil {
				t.Fatal(err)
			}
			var bo []string
			for _, d := range c.Analyzer.Backoff {
				bo = append(bo, d.String())
			}
			tt.check(t, &configView{Slots: c.Analyzer.Slots, RulesDir: c.Analyzer.RulesDir, ShareDir: c.Analyzer.ShareDir,
				URLs: strings.Join(c.NATS.URLs, ","), Metrics: c.Metrics.Listen, Backoff: strings.Join(bo, ","), Engine: c.Analyzer.Engine})
		})
	}
}

type configView struct {
	Slots                                              int
	RulesDir, ShareDir, URLs, Metrics, Backoff, Engine string
}

func (configView) want(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// The notifier from the config file: its targets (a Slack-compatible endpoint whose URL is
// read from a file), the queue, health and metrics; a published result is posted.
func TestNotifyDaemonFromConfig(t *testing.T) {
	url, js := loopbackNATS(t)
	var posts atomic.Int32
	var mu sync.Mutex
	var bodies []string
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		posts.Add(1)
	}))
	defer chat.Close()
	hook := writeFile(t, "hook-url", chat.URL+"/services/T0/B0/secret\n")
	metrics := freeAddr(t)
	cfg := writeFile(t, "bsodwatch.yaml", "nats:\n  urls: ["+url+"]\nnotifier:\n  targets:\n    - {name: ops, type: slack, url_file: "+hook+
		", no_grouping: true}\n  flush_interval: 100ms\nmetrics:\n  listen: "+metrics+"\n")
	d := startDaemon(t, cmdNotify, nil, "--config", cfg)
	if checks := waitHealthy(t, d, metrics); checks["nats"] != "ok" {
		t.Errorf("checks %v", checks)
	}
	r := notifytest.Known()
	b, _ := json.Marshal(r)
	if _, err := js.Publish(context.Background(), pipeline.ResultSubject(r.Job.ID), b, jetstream.WithMsgID(r.MsgID())); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the post", func() bool { return posts.Load() == 1 })
	mu.Lock()
	if !strings.Contains(bodies[0], r.Job.Host) {
		t.Errorf("post does not name the host %s:\n%s", r.Job.Host, bodies[0])
	}
	mu.Unlock()
	if _, err := js.Consumer(context.Background(), pipeline.ResultsStream, notifier.ConsumerName("ops")); err != nil {
		t.Errorf("consumer: %v", err)
	}
	if m := metricsText(t, metrics); !strings.Contains(m, `bsodwatch_notifier_deliveries_total{integration="slack",outcome="delivered",target="ops"} 1`) {
		t.Errorf("delivery not counted:\n%.3000s", m)
	}
	if code := d.stop(t); code != exitInterrupted {
		t.Errorf("exit %d after cancel, want %d\n%s", code, exitInterrupted, d.stderr.String())
	}
	if strings.Contains(d.stderr.String(), "secret") {
		t.Errorf("the webhook URL reached the log:\n%s", d.stderr.String())
	}
}

// A bad config file is a usage error with file:line, for every role.
func TestRoleConfigErrors(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "nats:\n  urls: [nats://x:4222]\nnotifier:\n  colour: red\n")
	for name, cmd := range map[string]func(context.Context, *env, []string) int{"fetch": cmdFetch, "analyze": cmdAnalyze, "notify": cmdNotify} {
		var errb bytes.Buffer
		e := &env{Stdout: io.Discard, Stderr: &errb, Getenv: func(string) string { return "" }, Log: zerolog.Nop()}
		code := cmd(context.Background(), e, []string{"--config", bad})
		if code != exitUsage || !strings.Contains(errb.String(), "bad.yaml:4:") || !strings.Contains(errb.String(), `"colour"`) {
			t.Errorf("%s: exit %d, stderr %q", name, code, errb.String())
		}
	}
}

// A source flag replaces the file's source of the other kind: --fleet over fetcher.inventory.
func TestFetchFlagOverridesFileSource(t *testing.T) {
	cfg := writeFile(t, "bsodwatch.yaml", "fetcher:\n  inventory: /nonexistent/hosts.yaml\n")
	code, stdout, stderr := runFetch(t, "--config", cfg, "--fleet", fetchFleet(t), "--dry-run")
	if code != exitOK || !strings.Contains(stdout, "would copy ws-12") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}
