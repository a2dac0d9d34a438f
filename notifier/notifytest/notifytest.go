// Package notifytest is the conformance suite every notifier integration runs: the HTTP
// status-code matrix, timeouts, secret URLs kept out of errors, and the fixtures (a known
// verdict, an unknown one, an update, a hostile one, a crash that left no dump) that golden
// payloads are made from.
package notifytest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/secret"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// Notifier is what the suite drives.
type Notifier interface {
	Notify(ctx context.Context, m *chat.Message) (bool, error)
	Render(m *chat.Message) ([]byte, error)
}

// Factory builds the integration under test for a URL.
type Factory func(t *testing.T, url secret.Value, client *http.Client) Notifier

var when = time.Date(2026, 11, 20, 3, 14, 0, 0, time.UTC)

// Known is a verdict with a matched rule and full lmvm data.
func Known() *pipeline.Result {
	return &pipeline.Result{
		Version: 1, Status: pipeline.StatusOK, Engine: "cdb", Confidence: "high",
		Job: pipeline.Job{ID: "3f2a9c", Host: "FS-07", HostTags: []string{"prod", "fileserver"},
			SourcePath: `ADMIN$\MEMORY.DMP`, SharePath: "FS-07/2026-11-20/MEMORY.DMP", DetectedAt: when},
		Analysis: &analysis.Analysis{
			BugcheckCode: "0x27", BugcheckName: "RDR_FILE_SYSTEM", ModuleName: "SYMEVENT",
			ImageName: "SYMEVENT.SYS", ThirdPartyModule: "SYMEVENT.SYS",
			FailureBucketID: "0x27_SYMEVENT!SYMEvent_Process", Complete: true,
			Modules: []analysis.Module{{Name: "SYMEVENT", ImageName: "SYMEVENT.SYS",
				ImagePath: `\SystemRoot\system32\Drivers\SYMEVENT.SYS`, Timestamp: "Wed Jun 03 19:24:00 2015 (556F4E00)",
				FileVersion: "12.9.5.2", CompanyName: "Symantec Corporation"}},
		},
		Matches: []rules.Match{{ID: "KI-0042", Title: "Symantec SYMEVENT before 12.10 crashes SMB redirector",
			Severity: "high", Summary: "Known defect in SYMEVENT 12.9 with SMB2 leases.",
			Remedy: []string{"Upgrade Symantec Endpoint Protection to 14.3 RU1", "Reboot the host"},
			Links:  []string{"https://support.example.com/kb/TECH123"}, Tags: []string{"av", "vendor:symantec"}}},
		RulesVersion: "r17", AnalyzedAt: when, Marks: pipeline.Marks{NewBucket: true},
	}
}

// Unknown is a verdict no rule matched, from the native engine.
func Unknown() *pipeline.Result {
	return &pipeline.Result{
		Version: 1, Status: pipeline.StatusOK, Engine: "native", Confidence: "low",
		Job: pipeline.Job{ID: "77aa01", Host: "WEB-12", SharePath: "WEB-12/2026-11-20/112026-01.dmp", DetectedAt: when,
			Header: &pipeline.Header{BugcheckCode: "0xd1", BugcheckName: "DRIVER_IRQL_NOT_LESS_OR_EQUAL"}},
		ProbableCause: &pipeline.Cause{Outcome: "module", Module: "e1d68x64.sys", Offset: "0x1f2a", Confidence: "low",
			Reason: "0xd1 DRIVER_IRQL_NOT_LESS_OR_EQUAL: bug check parameter 4 holds the faulting code address in e1d68x64.sys+0x1f2a"},
		Matches: []rules.Match{}, AnalyzedAt: when,
	}
}

// Failed is a failed analysis.
func Failed() *pipeline.Result {
	return &pipeline.Result{
		Version: 1, Status: pipeline.StatusFailed, Error: "cdb timed out after 10m0s", Attempts: 3,
		Job: pipeline.Job{ID: "9900ff", Host: "DB-01", SharePath: "DB-01/x/MEMORY.DMP"}, AnalyzedAt: when,
	}
}

// Hostile is a verdict whose every dump-derived value tries to ping, mention or link.
func Hostile() *pipeline.Result {
	r := Known()
	r.Job.Host = "<!channel> @here"
	r.Job.SharePath = "x/<http://evil.example|click me>.dmp"
	r.Analysis.BugcheckName = "<!everyone> @all"
	r.Analysis.ProcessName = "[click](http://evil.example) <@U024BE7LH>"
	r.Analysis.Modules[0].CompanyName = "**Evil** `Corp` <a href=\"http://evil.example\">x</a> @channel"
	r.Analysis.Modules[0].FileVersion = "1.0\n# Injected heading\n> quote"
	r.Analysis.FailureBucketID = "0x27_<!subteam^S123>_www.evil.example"
	r.Matches[0].Links = append(r.Matches[0].Links, "javascript:alert(1)", "http://links.example/a)[x](http://evil.example")
	return r
}

// NoDump is the verdict of a blue screen that left no dump, known from the host's System
// event log alone (the analyzer's eventlog engine).
func NoDump() *pipeline.Result {
	crashed := time.Date(2024, 5, 1, 3, 12, 7, 0, time.UTC)
	return &pipeline.Result{
		Version: 2, Status: pipeline.StatusOK, Engine: "eventlog", Confidence: "low",
		Job: pipeline.Job{ID: "e1a7c0", Host: "WEB01", SourcePath: `ADMIN$\System32\winevt\Logs\System.evtx`, DetectedAt: when,
			Event: &analysis.CrashEvent{Kind: analysis.EventNoDump, Record: 205, Time: crashed, BugcheckCode: "0x133",
				Args: []string{"0x1", "0x1e00", "0xfffff8057a4fb320", "0x0"}, Reason: "page file too small (volmgr 49)",
				OSVersion: "10.0.19045.4291", Computer: "WEB01.corp.example", EventIDs: []int{6008, 41}}},
		Analysis: &analysis.Analysis{BugcheckCode: "0x133", BugcheckName: "DPC_WATCHDOG_VIOLATION",
			Args: []string{"0x1", "0x1e00", "0xfffff8057a4fb320", "0x0"}, OSBuild: 19045, Complete: true},
		Matches: []rules.Match{}, AnalyzedAt: when,
	}
}

// Update is a group update of Known on seven hosts.
func Update() *chat.Message {
	return &chat.Message{Kind: chat.KindUpdate, Result: Known(), Group: &chat.Group{
		Bucket: "0x27_SYMEVENT!SYMEvent_Process", Count: 9, Since: when.Add(-time.Hour), Window: "hour", Updates: 1,
		Hosts: []string{"FS-01", "FS-02", "FS-03", "FS-04", "FS-05", "FS-06", "FS-07"},
	}}
}

// Messages are the golden cases, by name. Their results carry the verdict the analyzer
// (or, for an old stored result, the notifier) derives.
func Messages() map[string]*chat.Message {
	known := Known()
	known.Job.Host = "FS-07"
	ms := map[string]*chat.Message{
		"known":   {Kind: chat.KindVerdict, Result: known, New: true, ResultURL: "https://bsodwatch.example/results/3f2a9c"},
		"unknown": {Kind: chat.KindVerdict, Result: Unknown()},
		"failed":  {Kind: chat.KindVerdict, Result: Failed()},
		"update":  Update(),
		"hostile": {Kind: chat.KindVerdict, Result: Hostile()},
		"nodump":  {Kind: chat.KindVerdict, Result: NoDump()},
	}
	for _, m := range ms {
		verdict.Ensure(m.Result)
	}
	return ms
}

// Forbidden are strings that must not appear in any rendered chat payload of Hostile: each
// would ping people or make a link.
var Forbidden = []string{
	"<!channel>", "<!everyone>", "<@U024BE7LH>", "<!subteam", "<http://evil", "](http://evil",
	"<a href", "javascript:",
}

// StatusCase is one row of the status-code matrix.
type StatusCase struct {
	Status     int
	RetryAfter string
	Retry      bool
	Reason     string
	WantWait   time.Duration
}

// StatusMatrix is the decision every integration must make for each answer.
var StatusMatrix = []StatusCase{
	{Status: 200},
	{Status: 202},
	{Status: 204},
	{Status: 400, Reason: chat.ReasonClientError},
	{Status: 401, Reason: chat.ReasonClientError},
	{Status: 403, Reason: chat.ReasonClientError},
	{Status: 404, Reason: chat.ReasonClientError},
	{Status: 410, Reason: chat.ReasonClientError},
	{Status: 413, Reason: chat.ReasonClientError},
	{Status: 429, RetryAfter: "7", Retry: true, Reason: chat.ReasonRateLimited, WantWait: 7 * time.Second},
	{Status: 429, Retry: true, Reason: chat.ReasonRateLimited},
	{Status: 500, Retry: true, Reason: chat.ReasonServerError},
	{Status: 502, Retry: true, Reason: chat.ReasonServerError},
	{Status: 503, RetryAfter: "120", Retry: true, Reason: chat.ReasonServerError, WantWait: 2 * time.Minute},
}

// RunStatusMatrix posts to a server answering each status and checks the decision, that
// the secret URL never shows in an error, and that a hung server is a retryable timeout.
func RunStatusMatrix(t *testing.T, f Factory) {
	t.Helper()
	msg := &chat.Message{Kind: chat.KindVerdict, Result: Known()}
	for _, c := range StatusMatrix {
		t.Run(http.StatusText(c.Status)+"/"+c.RetryAfter, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if c.RetryAfter != "" {
					w.Header().Set("Retry-After", c.RetryAfter)
				}
				w.WriteHeader(c.Status)
				_, _ = w.Write([]byte("invalid_payload"))
			}))
			defer srv.Close()
			u := secret.New(srv.URL + "/hooks/T000/B000/XXXXsecretXXXX")
			n := f(t, u, srv.Client())
			retry, err := n.Notify(context.Background(), msg)
			if hits.Load() != 1 {
				t.Fatalf("server saw %d requests, want 1", hits.Load())
			}
			if c.Reason == "" {
				if err != nil {
					t.Fatalf("status %d: unexpected error %v", c.Status, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("status %d: no error", c.Status)
			}
			if retry != c.Retry {
				t.Errorf("status %d: retry = %v, want %v", c.Status, retry, c.Retry)
			}
			if got := chat.Reason(err); got != c.Reason {
				t.Errorf("status %d: reason %q, want %q", c.Status, got, c.Reason)
			}
			if ce, ok := err.(*chat.Error); ok && ce.RetryAfter != c.WantWait {
				t.Errorf("status %d: Retry-After %v, want %v", c.Status, ce.RetryAfter, c.WantWait)
			}
			AssertNoSecret(t, err.Error(), u)
		})
	}
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		u := secret.New(srv.URL + "/hooks/XXXXsecretXXXX")
		c := srv.Client()
		c.Timeout = 200 * time.Millisecond
		retry, err := f(t, u, c).Notify(context.Background(), msg)
		if err == nil || !retry || chat.Reason(err) != chat.ReasonTimeout {
			t.Fatalf("hung server: retry=%v err=%v, want a retryable timeout", retry, err)
		}
		AssertNoSecret(t, err.Error(), u)
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := secret.New(srv.URL + "/hooks/XXXXsecretXXXX")
		srv.Close()
		retry, err := f(t, u, &http.Client{Timeout: 5 * time.Second}).Notify(context.Background(), msg)
		if err == nil || !retry || chat.Reason(err) != chat.ReasonNetwork {
			t.Fatalf("closed server: retry=%v err=%v, want a retryable network error", retry, err)
		}
		AssertNoSecret(t, err.Error(), u)
	})
}

// AssertNoSecret fails when any part of the secret shows in text: the whole URL, or its
// path (the part of a webhook URL that is the credential).
func AssertNoSecret(t testing.TB, text string, s secret.Value) {
	t.Helper()
	v := s.Reveal()
	if v == "" {
		return
	}
	if strings.Contains(text, v) {
		t.Fatalf("secret leaked: %q", text)
	}
	if i := strings.Index(v, "/hooks/"); i >= 0 && strings.Contains(text, v[i:]) {
		t.Fatalf("secret path leaked: %q", text)
	}
}

var chatMessageHostile = chat.Message{Kind: chat.KindVerdict, Result: withVerdict(Hostile())}

func withVerdict(r *pipeline.Result) *pipeline.Result {
	verdict.Ensure(r)
	return r
}

// Huge is a verdict far over every chat size limit: many long remedy lines.
func Huge() *chat.Message {
	r := Known()
	line := strings.Repeat("Check the filter driver stack and vendor notes. ", 12)
	for i := 0; i < 400; i++ {
		r.Matches[0].Remedy = append(r.Matches[0].Remedy, line)
	}
	verdict.Ensure(r)
	return &chat.Message{Kind: chat.KindVerdict, Result: r, ResultURL: "https://bsodwatch.example/results/3f2a9c"}
}
