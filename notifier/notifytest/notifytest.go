// Package notifytest is the conformance suite every notifier integration runs: the HTTP
// status-code matrix, timeouts, secret URLs kept out of errors, and the fixtures (a known
// verdict, an unknown one, an update, a hostile one, a crash that left no dump) that golden
// payloads are made from.
package notifytest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/drivers"
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

// Suspect is a crash the debugger blames on NETIO, with one vendor's firewall loaded: the
// culprit is that driver, said to be a suspect.
func Suspect() *pipeline.Result {
	a := &analysis.Analysis{BugcheckCode: "0xd1", BugcheckName: "DRIVER_IRQL_NOT_LESS_OR_EQUAL", ModuleName: "NETIO",
		ImageName: "NETIO.SYS", FailureBucketID: "AV_NETIO!StreamInvokeCalloutAndNormalizeAction", Complete: true,
		Modules: []analysis.Module{{Name: "nt", ImageName: "ntkrnlmp.exe"}, {Name: "NETIO", ImageName: "NETIO.SYS"},
			{Name: "rt640x64", ImageName: "rt640x64.sys"}, {Name: "klwfp", ImageName: "klwfp.sys"}}}
	drivers.Attribute(a)
	return &pipeline.Result{
		Version: 1, Status: pipeline.StatusOK, Engine: "cdb",
		Job: pipeline.Job{ID: "5c1e07", Host: "APP-03", SharePath: "APP-03/2026-11-21/112126-01.dmp", DetectedAt: when,
			Header: &pipeline.Header{BugcheckCode: "0xd1", BugcheckName: "DRIVER_IRQL_NOT_LESS_OR_EQUAL"}},
		Analysis: a, Matches: []rules.Match{}, AnalyzedAt: when,
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

// Messages are the golden cases, by name: the samples (known, unknown, failed, update),
// the hostile and markup verdicts, and the oversized ones. Their results carry the verdict
// the analyzer (or, for an old stored result, the notifier) derives.
func Messages() map[string]*chat.Message {
	known := Known()
	known.Job.Host = "FS-07"
	ms := map[string]*chat.Message{
		"known":   {Kind: chat.KindVerdict, Result: known, New: true, ResultURL: resultURL},
		"unknown": {Kind: chat.KindVerdict, Result: Unknown()},
		"failed":  {Kind: chat.KindVerdict, Result: Failed()},
		"update":  Update(),
		"hostile": {Kind: chat.KindVerdict, Result: Hostile()},
		"markup":  {Kind: chat.KindVerdict, Result: MarkupValues(), ResultURL: resultURL},
		"huge":    Huge(),
		// A 5,000- and a 40,000-character module and process name, a 36,000-character error.
		"oversized-5k":  {Kind: chat.KindVerdict, Result: Oversized(5000), ResultURL: resultURL},
		"oversized-40k": {Kind: chat.KindVerdict, Result: Oversized(40000), ResultURL: resultURL},
		"failed-36k":    {Kind: chat.KindVerdict, Result: FailedLong(36000), ResultURL: resultURL},
		"nodump":        {Kind: chat.KindVerdict, Result: NoDump()},
		"suspect":       {Kind: chat.KindVerdict, Result: Suspect()},
	}
	for _, m := range ms {
		verdict.Ensure(m.Result)
	}
	return ms
}

// Samples are the names of the ordinary cases of Messages, the ones the README shows.
var Samples = []string{"known", "unknown", "failed", "update"}

const resultURL = "https://bsodwatch.example/results/3f2a9c"

// markupRun is text full of every chat markup there is: Slack's, Markdown's, HTML, entities,
// mentions of each service, links bare and explicit, Adaptive Card functions, emoji.
const markupRun = "**b** _i_ ~s~ `c` <!here> <@U1> &amp; &lt;b&gt; [x](http://evil.example) " +
	"evil.com/x mailto:a@evil.com @all ~town-square #tag :smile: ;) $x$ {{DATE(2017-02-14T06:08:39Z)}} | "

// repeatTo repeats s to exactly n runes.
func repeatTo(s string, n int) string {
	r := []rune(strings.Repeat(s, n/len([]rune(s))+1))
	return string(r[:n])
}

// MarkupValues is a known verdict whose every value is full of markup, with the patterns
// the issue found: "evil.com/x" right after the template's "**" (the host), a mailto:
// culprit, "&amp; &lt;b&gt;" that must show as written, a list marker and an entity at the
// start of a value.
func MarkupValues() *pipeline.Result {
	r := Known()
	r.Job.Host = "evil.com/x"
	r.Job.SharePath = "- &amp;/" + markupRun
	r.Job.SourcePath = "1. " + markupRun
	a := r.Analysis
	a.ImageName, a.ThirdPartyModule = "mailto:x@evil.com", "mailto:x@evil.com"
	a.ModuleName = "mailto:x@evil.com"
	a.ProcessName = "&amp; &lt;b&gt; " + markupRun
	a.BugcheckName = "*BOLD_" + markupRun
	a.Modules = []analysis.Module{
		{Name: "mailto:x@evil.com", ImageName: "mailto:x@evil.com", CompanyName: "&amp; &lt;b&gt; " + markupRun, FileVersion: "**1**"},
		{Name: "evil", ImageName: "evil.com/x", CompanyName: "Evil"},
		{Name: "here", ImageName: "@here", CompanyName: "Evil"},
	}
	m := &r.Matches[0]
	m.Title = "&lt;b&gt;Title&lt;/b&gt; " + markupRun
	m.Summary = "> quote " + markupRun
	m.Remedy = []string{"- " + markupRun, "&gt;" + markupRun, "1) " + markupRun}
	m.Why = []string{"module " + markupRun}
	m.Severity = "high"
	r.Matches = append(r.Matches, rules.Match{ID: "KI-2", Title: "`other` " + markupRun, Severity: "low"},
		rules.Match{ID: "SEC-1", Title: "flag " + markupRun, Severity: "high", Tags: []string{"security"}})
	return r
}

// Oversized is a known verdict with module and process names of n characters (full of
// markup), a title, summary and description of thousands, forty long remedies, two
// hundred third-party modules: far over every chat limit before the value caps.
func Oversized(n int) *pipeline.Result {
	r := Known()
	name := repeatTo("SYMEVENT&lt;*_`"+markupRun, n-4) + ".SYS"
	a := r.Analysis
	a.ImageName, a.ThirdPartyModule, a.ModuleName = name, name, name
	a.ProcessName = repeatTo("proc "+markupRun, n)
	a.Modules[0].Name, a.Modules[0].ImageName = name, name
	a.Modules[0].CompanyName = repeatTo("Symantec "+markupRun, 3000)
	for i := 0; i < 200; i++ {
		a.Modules = append(a.Modules, analysis.Module{Name: fmt.Sprintf("thirdparty%03d", i),
			ImageName: fmt.Sprintf("thirdparty%03d_%s.sys", i, repeatTo("x&<", 60)), CompanyName: "Vendor &amp; Co"})
	}
	m := &r.Matches[0]
	m.Title = repeatTo("Symantec SYMEVENT **before** 12.10 crashes "+markupRun, 2500)
	m.Summary = repeatTo("Known defect &<>&<>&<> "+markupRun, 5000)
	m.Remedy = nil
	for i := 0; i < 40; i++ {
		m.Remedy = append(m.Remedy, repeatTo(fmt.Sprintf("%d. Upgrade & reboot &amp; ", i)+markupRun, 1200))
	}
	for i := 0; i < 8; i++ { // entities make these five times longer in Slack
		m.Why = append(m.Why, repeatTo(fmt.Sprintf("fact %d &<>&<>&<>&<>", i), 3000))
	}
	for i := 0; i < 8; i++ {
		m.Links = append(m.Links, fmt.Sprintf("https://support.example.com/kb/%d?q=%s", i, strings.Repeat("a", 300)))
	}
	for i := 0; i < 8; i++ {
		r.Matches = append(r.Matches, rules.Match{ID: fmt.Sprintf("KI-%d", 100+i), Severity: "medium",
			Title: repeatTo("Another known issue &<>&<>&<>&<> "+markupRun, 1000)})
	}
	r.Job.SharePath = repeatTo("FS-07/&amp;/"+markupRun, 2000)
	r.Job.Host = repeatTo("FS-07-"+markupRun, 300)
	return r
}

// FailedLong is a failed analysis whose error is n characters of markup on one line.
func FailedLong(n int) *pipeline.Result {
	r := Failed()
	r.Error = "cdb: " + repeatTo("access violation &amp; <b>x</b> **"+markupRun, n-5)
	r.Job.Host = "DB-01 " + markupRun
	return r
}

// Forbidden are strings that must not appear live (outside an escape) in any rendered chat
// payload of Hostile or MarkupValues: each would ping people, make a link or run markup.
var Forbidden = []string{
	"<!channel>", "<!everyone>", "<!here>", "<@U024BE7LH>", "<@U1>", "<!subteam", "<http://evil",
	"](http://evil", "<a href", "javascript:", "mailto:x", "mailto:a", "evil.com/", "<b>",
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

// Huge is a verdict far over every chat size limit before the value caps: many long
// remedy lines.
func Huge() *chat.Message {
	r := Known()
	line := strings.Repeat("Check the filter driver stack and vendor notes. ", 12)
	for i := 0; i < 100; i++ {
		r.Matches[0].Remedy = append(r.Matches[0].Remedy, line)
	}
	verdict.Ensure(r)
	return &chat.Message{Kind: chat.KindVerdict, Result: r, ResultURL: resultURL}
}
