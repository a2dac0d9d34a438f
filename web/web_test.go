package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/debugout"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/hoststatus"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/silence"
	"github.com/bsodwatch/bsodwatch/verdict"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// fakeHosts is the fetcher's view, as a test states it.
type fakeHosts map[string]hoststatus.Status

func (f fakeHosts) All() []hoststatus.Status {
	var out []hoststatus.Status
	for _, s := range f {
		out = append(out, s)
	}
	return out
}
func (f fakeHosts) Get(h string) (hoststatus.Status, bool) {
	s, ok := f[strings.ToLower(h)]
	return s, ok
}

type env struct {
	js    jetstream.JetStream
	srv   *Server
	sil   *silence.Store
	share string
	audit string
}

// results are the stored verdicts the tests read: a known issue, an unknown crash, a failed
// analysis and the hostile one, at distinct crash times (Known newest).
func results() []*pipeline.Result {
	rs := []*pipeline.Result{notifytest.Known(), notifytest.Unknown(), notifytest.Failed(), notifytest.Hostile()}
	rs[3].Job.ID = "bad0bad0"
	rs[0].Matches[0].Why = []string{"module_name SYMEVENT matches symevent"}
	for i, r := range rs {
		r.Job.DetectedAt = t0.Add(-time.Duration(i) * time.Hour)
		r.Job.ModTime = r.Job.DetectedAt
		r.Verdict = nil
		verdict.Ensure(r)
		r.Verdict.CrashTime = r.Job.DetectedAt
	}
	return rs
}

// start stores rs, starts a console (auth says whether a web config authenticates users)
// and waits until its index holds them.
func start(t testing.TB, rs []*pipeline.Result, auth bool) *env {
	t.Helper()
	q := embeddedtest.Start(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	embeddedtest.PublishResults(t, q.JS, rs)
	rl, err := rules.NewReloader("", zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sil, err := silence.Open(ctx, q.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	go sil.Watch(ctx)
	<-sil.Ready()
	e := &env{js: q.JS, sil: sil, share: t.TempDir(), audit: filepath.Join(t.TempDir(), "audit.log")}
	local, err := dumpshare.NewLocal(e.share)
	if err != nil {
		t.Fatal(err)
	}
	hosts := fakeHosts{"web-12": {Host: "WEB-12", State: "auth", Error: "logon failed: STATUS_LOGON_FAILURE", Checked: t0, Since: t0},
		"spare-01": {Host: "SPARE-01", State: "ok", Checked: t0, Since: t0, LastOK: t0}}
	e.srv, err = New(Options{AuditFile: e.audit}, Deps{JS: q.JS, Log: zerolog.Nop(), Rules: rl, Silences: sil,
		Hosts: hosts, Dumps: local, Auth: auth, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	go e.srv.Run(ctx)
	deadline := time.Now().Add(5 * time.Minute) // 100,000 verdicts on a busy machine
	for st := e.srv.IndexState(); !st.Ready || st.Verdicts < len(rs); st = e.srv.IndexState() {
		if time.Now().After(deadline) {
			t.Fatalf("index not ready: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestAPIVerdicts(t *testing.T) {
	e := start(t, results(), false)
	ids := func(body []byte) []string {
		t.Helper()
		var l struct {
			Verdicts []pipeline.Result `json:"verdicts"`
			Total    int               `json:"total"`
			Next     string            `json:"next"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var out []string
		for _, r := range l.Verdicts {
			out = append(out, r.Job.ID)
		}
		return append(out, fmt.Sprintf("total=%d next=%s", l.Total, l.Next))
	}
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"", "3f2a9c 77aa01 9900ff bad0bad0 total=4 next="},
		{"?host=web-12", "77aa01 total=1 next="},
		{"?class=unknown", "77aa01 total=1 next="},
		{"?unknown=1", "77aa01 total=1 next="},
		{"?class=failed", "9900ff total=1 next="},
		{"?rule=ki-0042", "3f2a9c bad0bad0 total=2 next="},
		{"?limit=2", "3f2a9c 77aa01 total=4 next=/api/v1/verdicts?limit=2&offset=2"},
		{"?limit=2&offset=2", "9900ff bad0bad0 total=4 next="},
		{"?since=2026-11-20T08:30:00Z", "3f2a9c total=1 next="},
		{"?q=e1d68x64", "77aa01 total=1 next="},
	} {
		w := do(t, e.srv, "GET", "/api/v1/verdicts"+tc.query, nil)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", tc.query, w.Code, w.Body)
		}
		if got := strings.Join(ids(w.Body.Bytes()), " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.query, got, tc.want)
		}
	}
	// The list holds the stored objects themselves.
	w := do(t, e.srv, "GET", "/api/v1/verdicts?host=FS-07", nil)
	var l struct{ Verdicts []map[string]any }
	json.Unmarshal(w.Body.Bytes(), &l)
	if len(l.Verdicts) != 1 || l.Verdicts[0]["analysis"] == nil || l.Verdicts[0]["verdict"] == nil {
		t.Errorf("stored verdict object not whole: %s", w.Body)
	}
	for _, tc := range []struct{ target, want string }{
		{"/api/v1/verdicts?limit=0", `{"error":"limit \"0\": want 1 to 500"}`},
		{"/api/v1/verdicts?since=tomorrow", `{"error":"since: \"tomorrow\": want an RFC 3339 time, a date (2006-01-02) or an age (36h, 7d, 2w)"}`},
		{"/api/v1/verdicts?class=odd", `{"error":"class \"odd\": want known, unknown or failed"}`},
		{"/api/v1/verdicts/nope", `{"error":"no verdict nope"}`},
		{"/api/v1/nothing", `{"error":"no such API call: GET /api/v1/nothing"}`},
	} {
		w := do(t, e.srv, "GET", tc.target, nil)
		if got := strings.Join(strings.Fields(w.Body.String()), ""); got != strings.ReplaceAll(tc.want, " ", "") || w.Code < 400 {
			t.Errorf("%s: %d %s, want %s", tc.target, w.Code, w.Body, tc.want)
		}
	}
	w = do(t, e.srv, "GET", "/api/v1/verdicts/77aa01", nil)
	var r pipeline.Result
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Job.Host != "WEB-12" || r.Verdict == nil || r.Verdict.Bucket != "0xd1_e1d68x64" {
		t.Errorf("one verdict: %v %s", err, w.Body)
	}
}

func TestAPIHostsBucketsRules(t *testing.T) {
	e := start(t, results(), false)
	var hs struct{ Hosts []HostSummary }
	json.Unmarshal(do(t, e.srv, "GET", "/api/v1/hosts", nil).Body.Bytes(), &hs)
	got := map[string]string{}
	for _, h := range hs.Hosts {
		st := "-"
		if h.Fetcher != nil {
			st = h.Fetcher.State
		}
		got[h.Host] = fmt.Sprintf("%d %s %s", h.Crashes, h.LastID, st)
	}
	want := map[string]string{"FS-07": "1 3f2a9c -", "WEB-12": "1 77aa01 auth", "DB-01": "1 9900ff -",
		"<!channel> @here": "1 bad0bad0 -", "SPARE-01": "0  ok"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("hosts:\n got %v\nwant %v", got, want)
	}
	var bs struct{ Buckets []BucketSummary }
	json.Unmarshal(do(t, e.srv, "GET", "/api/v1/buckets", nil).Body.Bytes(), &bs)
	gotB := map[string]string{}
	for _, b := range bs.Buckets {
		issue := "-"
		if b.Issue != nil {
			issue = b.Issue.ID
		}
		gotB[b.Bucket] = fmt.Sprintf("%d/%d %s %s", b.Crashes, b.Hosts, b.Class, issue)
	}
	wantB := map[string]string{"0x27_symevent": "2/2 known KI-0042", "0xd1_e1d68x64": "1/1 unknown -", "failed": "1/1 failed -"}
	if fmt.Sprint(gotB) != fmt.Sprint(wantB) {
		t.Errorf("buckets:\n got %v\nwant %v", gotB, wantB)
	}
	var rs struct {
		Status RulesStatus
		Rules  []RuleInfo
	}
	json.Unmarshal(do(t, e.srv, "GET", "/api/v1/rules", nil).Body.Bytes(), &rs)
	if rs.Status.Dir != "shipped library" || rs.Status.Rules < 50 || len(rs.Rules) != rs.Status.Rules {
		t.Errorf("rules status %+v, %d rules", rs.Status, len(rs.Rules))
	}
	fails := 0
	for _, ri := range rs.Rules {
		if ri.SelfTest == "fail" {
			fails++
			t.Errorf("shipped rule %s fails its self-test: %v", ri.ID, ri.Failures)
		}
	}
	var st Status
	json.Unmarshal(do(t, e.srv, "GET", "/api/v1/status", nil).Body.Bytes(), &st)
	if st.Index.Verdicts != 4 || !st.Index.Ready || st.Pipeline.Failed != 1 || st.Pipeline.Error != "" {
		t.Errorf("status %+v", st)
	}
}

// Every page renders, and every value from the hostile verdict (host, bugcheck name,
// process, company, version, bucket, rule links) comes out escaped: nothing pings, links or
// runs.
func TestPagesEscapeHostileValues(t *testing.T) {
	e := start(t, results(), true)
	pages := []string{"/", "/?range=24h", "/?range=all", "/verdicts", "/verdicts?q=%3C%21channel", "/verdicts/bad0bad0",
		"/hosts", "/hosts/" + url.PathEscape("<!channel> @here"), "/buckets", "/buckets/0x27_symevent", "/issues", "/rules",
		"/verdicts/3f2a9c", "/verdicts/77aa01", "/verdicts/9900ff", "/hosts/SPARE-01"}
	for _, p := range pages {
		w := do(t, e.srv, "GET", p, nil, "Authorization", basic("alice", "x"))
		if w.Code != 200 {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
			continue
		}
		body := w.Body.String()
		for _, bad := range []string{"<!channel>", "<!everyone>", `<a href="http://evil.example"`, `href="javascript:`, "<@U024BE7LH>"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s carries %q unescaped", p, bad)
			}
		}
		if w.Header().Get("Content-Security-Policy") == "" || !strings.Contains(body, "</html>") {
			t.Errorf("%s: no CSP header or a cut page", p)
		}
	}
	body := do(t, e.srv, "GET", "/verdicts/bad0bad0", nil, "Authorization", basic("alice", "x")).Body.String()
	for _, want := range []string{"&lt;!channel&gt; @here", "&lt;!everyone&gt; @all", `href="#ZgotmplZ"`,
		"**Evil** `Corp` &lt;a href=&#34;http://evil.example&#34;&gt;x&lt;/a&gt; @channel"} {
		if !strings.Contains(body, want) {
			t.Errorf("the hostile verdict page lacks the escaped %q", want)
		}
	}
	// The known issue and the culprit are on the verdict page.
	body = do(t, e.srv, "GET", "/verdicts/3f2a9c", nil).Body.String()
	for _, want := range []string{"Known issue:", "SYMEVENT", "Why it matched", "Symantec"} {
		if !strings.Contains(body, want) {
			t.Errorf("verdict page lacks %q", want)
		}
	}
	if w := do(t, e.srv, "GET", "/verdicts/nope", nil); w.Code != 404 || !strings.Contains(w.Body.String(), "No verdict nope is stored") {
		t.Errorf("missing verdict: %d", w.Code)
	}
}

func basic(u, p string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(u, p)
	return r.Header.Get("Authorization")
}

// auditLines reads the audit log.
func auditLines(t *testing.T, path string) []AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// Through the ops listener with a web configuration: nothing without a password, a wrong
// one refused, the dump downloaded by a user and the download audited.
func TestAuthWebConfig(t *testing.T) {
	rs := results()
	rs[1].PrunedAt = time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC) // the share's retention removed it
	e := start(t, rs, true)
	dump := []byte("PAGEDU64 a dump's bytes")
	if err := os.MkdirAll(filepath.Join(e.share, "FS-07", "2026-11-20"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.share, filepath.FromSlash(rs[0].Job.SharePath)), dump, 0o644); err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	cfg := filepath.Join(t.TempDir(), "web.yml")
	os.WriteFile(cfg, []byte("basic_auth_users:\n  alice: "+string(hash)+"\n"), 0o600)
	o := ops.New("test", zerolog.Nop())
	o.Handle("/", e.srv)
	ctx, cancel := context.WithCancel(context.Background())
	l, err := o.Start(ctx, ops.Options{Listen: "127.0.0.1:0", WebConfigFile: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); l.Wait() }()
	base := l.URL()
	get := func(path, user, pass string) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, p := range []string{"/", "/api/v1/verdicts", "/verdicts/3f2a9c/dump", "/metrics", "/healthz", "/static/style.css"} {
		if code, _ := get(p, "", ""); code != 401 {
			t.Errorf("%s without a password: %d, want 401", p, code)
		}
		if code, _ := get(p, "alice", "wrong"); code != 401 {
			t.Errorf("%s with a wrong password: %d, want 401", p, code)
		}
	}
	if code, b := get("/api/v1/verdicts", "alice", "s3cret"); code != 200 || !strings.HasPrefix(string(b), "{\n  \"verdicts\": [") {
		t.Errorf("signed in: %d %.80s", code, b)
	}
	code, b := get("/verdicts/3f2a9c/dump", "alice", "s3cret")
	if code != 200 || string(b) != string(dump) {
		t.Errorf("download: %d %q", code, b)
	}
	// A pruned dump: the verdict page says so and the download is gone, not an error.
	if code, b := get("/verdicts/77aa01", "alice", "s3cret"); code != 200 || !strings.Contains(string(b), "Pruned") || strings.Contains(string(b), "Download the dump") {
		t.Errorf("verdict page of a pruned dump: %d", code)
	}
	if code, b := get("/verdicts/77aa01/dump", "alice", "s3cret"); code != 410 || !strings.Contains(string(b), "was pruned on 2026-11-30 by the share&#39;s retention") && !strings.Contains(string(b), "was pruned on 2026-11-30 by the share's retention") {
		t.Errorf("download of a pruned dump: %d %s", code, b)
	}
	lines := auditLines(t, e.audit)
	if len(lines) != 2 || lines[1].Target != "77aa01" || lines[1].Action != "download" || lines[1].Outcome == "ok" {
		t.Errorf("the refused download of the pruned dump is audited as refused: %+v", lines)
	}
	if len(lines) != 2 || lines[0].User != "alice" || lines[0].Action != "download" || lines[0].Target != "3f2a9c" ||
		lines[0].Outcome != "ok" || lines[0].Time.IsZero() || !strings.HasPrefix(lines[0].Remote, "127.0.0.1:") {
		t.Errorf("audit after the download: %+v", lines)
	}
	// A web config without users is refused: it would serve without authentication.
	os.WriteFile(cfg, []byte("tls_server_config: {}\n"), 0o600)
	if _, err := ops.CheckWebConfig(cfg); err == nil || !strings.Contains(err.Error(), "no basic_auth_users") {
		t.Errorf("a web config without users: %v", err)
	}
}

// Without a web configuration nobody is signed in: pages are read-only, downloads and
// changes are refused and nothing is written to the audit log.
func TestNoAuthReadOnly(t *testing.T) {
	e := start(t, results(), false)
	w := do(t, e.srv, "GET", "/verdicts/3f2a9c/dump", nil)
	if w.Code != 403 || !strings.Contains(w.Body.String(), "this needs a signed-in user") {
		t.Errorf("download without a user: %d %s", w.Code, w.Body)
	}
	w = do(t, e.srv, "POST", "/api/v1/buckets/0x27_symevent/silence", strings.NewReader(`{"for":"1h"}`), "Content-Type", "application/json")
	if w.Code != 403 || w.Body.String() != "{\n  \"error\": \""+needUser+"\"\n}\n" {
		t.Errorf("silence without a user: %d %s", w.Code, w.Body)
	}
	if b, _ := os.ReadFile(e.audit); len(b) != 0 {
		t.Errorf("audit log written without a user: %s", b)
	}
	if body := do(t, e.srv, "GET", "/buckets/0x27_symevent", nil).Body.String(); strings.Contains(body, `action="/api/v1/buckets`) {
		t.Error("the bucket page offers forms to nobody")
	}
}

func TestCSRFAndWrites(t *testing.T) {
	e := start(t, results(), true)
	auth := basic("alice", "x")
	token := e.srv.csrfToken("alice")
	form := func(vals string) io.Reader { return strings.NewReader(vals) }
	for _, tc := range []struct {
		name string
		body io.Reader
		hdr  []string
		code int
		msg  string
	}{
		{"form without token", form("for=1h"), []string{"Content-Type", "application/x-www-form-urlencoded"}, 403, "CSRF token is missing or wrong"},
		{"form with another user's token", form("for=1h&csrf=" + e.srv.csrfToken("mallory")), []string{"Content-Type", "application/x-www-form-urlencoded"}, 403, "CSRF token"},
		{"cross-site form with token", form("for=1h&csrf=" + token), []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"}, 403, "cross-site request refused"},
		{"cross-origin JSON", form(`{"for":"1h"}`), []string{"Content-Type", "application/json", "Origin", "https://evil.example"}, 403, "cross-site request refused"},
		{"text/plain", form(`{"for":"1h"}`), []string{"Content-Type", "text/plain"}, 415, "send JSON"},
		{"no duration", form(`{}`), []string{"Content-Type", "application/json"}, 400, "say for how long"},
		{"too long", form(`{"for":"200d"}`), []string{"Content-Type", "application/json"}, 400, "until: at most 2160h0m0s ahead"},
		{"bad duration", form(`{"for":"soon"}`), []string{"Content-Type", "application/json"}, 400, `want a duration such as 8h, 7d or 2w`},
	} {
		w := do(t, e.srv, "POST", "/api/v1/buckets/0x27_symevent/silence", tc.body, append(tc.hdr, "Authorization", auth)...)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.msg) {
			t.Errorf("%s: %d %s, want %d %q", tc.name, w.Code, w.Body, tc.code, tc.msg)
		}
	}
	if e.sil.Silenced("0x27_symevent", t0.Add(time.Hour)) {
		t.Fatal("a refused request silenced the bucket")
	}
	// A same-origin form with the token silences, and redirects back to the bucket.
	w := do(t, e.srv, "POST", "/api/v1/buckets/0x27_symevent/silence", form("for=24h&comment=patch+Tuesday&csrf="+token),
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin", "Authorization", auth)
	if w.Code != 303 || w.Header().Get("Location") != "/buckets/0x27_symevent" {
		t.Fatalf("form silence: %d %s", w.Code, w.Body)
	}
	if !e.sil.Silenced("0x27_symevent", t0.Add(2*time.Hour)) || e.sil.Silenced("0x27_symevent", t0.Add(26*time.Hour)) {
		t.Error("the silence is not in force for 24h from now")
	}
	// JSON from a script acknowledges.
	w = do(t, e.srv, "POST", "/api/v1/buckets/0xd1_e1d68x64/ack", strings.NewReader(`{"until":"2026-11-27T00:00:00Z","comment":"on it"}`),
		"Content-Type", "application/json", "Authorization", auth)
	if w.Code != 200 {
		t.Fatalf("ack: %d %s", w.Code, w.Body)
	}
	var bs struct{ Buckets []BucketSummary }
	json.Unmarshal(do(t, e.srv, "GET", "/api/v1/buckets", nil, "Authorization", auth).Body.Bytes(), &bs)
	for _, b := range bs.Buckets {
		switch b.Bucket {
		case "0x27_symevent":
			if b.Silenced == nil || b.Silenced.By != "alice" || b.Silenced.Comment != "patch Tuesday" {
				t.Errorf("silence shown as %+v", b.Silenced)
			}
		case "0xd1_e1d68x64":
			if b.Acknowledged == nil || !b.Acknowledged.Until.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("ack shown as %+v", b.Acknowledged)
			}
		}
	}
	// Ending the silence.
	w = do(t, e.srv, "POST", "/api/v1/buckets/0x27_symevent/unsilence", nil, "Authorization", auth)
	if w.Code != 200 || e.sil.Silenced("0x27_symevent", t0.Add(2*time.Hour)) {
		t.Errorf("unsilence: %d %s", w.Code, w.Body)
	}
	// Re-analysis: the stored rules are the shipped ones, so nothing changes, and says so.
	w = do(t, e.srv, "POST", "/api/v1/verdicts/77aa01/reanalyze", nil, "Authorization", auth)
	var ra Reanalysis
	if err := json.Unmarshal(w.Body.Bytes(), &ra); err != nil || w.Code != 200 || ra.ID != "77aa01" || ra.Rules == "" {
		t.Errorf("reanalyze: %d %s", w.Code, w.Body)
	}
	var got []string
	for _, l := range auditLines(t, e.audit) {
		if l.User != "alice" {
			t.Errorf("audit line of %q", l.User)
		}
		got = append(got, l.Action+" "+l.Target+" "+l.Outcome)
	}
	want := []string{
		"silence 0x27_symevent say for how long (for: 8h, 7d) or until when (until: RFC 3339)",
		"silence 0x27_symevent until: at most 2160h0m0s ahead",
		`silence 0x27_symevent for "soon": want a duration such as 8h, 7d or 2w`,
		"silence 0x27_symevent ok", "ack 0xd1_e1d68x64 ok", "unsilence 0x27_symevent ok", "reanalyze 77aa01 ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Re-analysis under rules that now match re-issues the verdict in place, and the index
// follows.
func TestReanalyzeReissues(t *testing.T) {
	rs := results()
	rs[1].Analysis = &analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "e1d68x64", Complete: true}
	e := start(t, rs, true)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(`rules:
  - id: site-e1d
    title: Intel network driver crash (site rule)
    severity: high
    match:
      module: e1d68x64
`), 0o644)
	rl, err := rules.NewReloader(dir, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.d.Rules = rl
	w := do(t, e.srv, "POST", "/api/v1/verdicts/77aa01/reanalyze", nil, "Authorization", basic("bob", "x"))
	var ra Reanalysis
	json.Unmarshal(w.Body.Bytes(), &ra)
	if w.Code != 200 || !ra.Changed || fmt.Sprint(ra.New) != "[site-e1d]" {
		t.Fatalf("reanalyze: %d %s", w.Code, w.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if it, ok := e.srv.idx.get("77aa01"); ok && it.Known() && it.Reprocessed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the index did not take the re-issued verdict")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type fakeOutputs map[string]string

func (f fakeOutputs) Get(_ context.Context, id string) ([]byte, error) {
	if s, ok := f[id]; ok {
		return []byte(s), nil
	}
	return nil, fmt.Errorf("output %s: %w", id, debugout.ErrNotFound)
}

// The whole debugger output is served as plain text, never as a page, and linked from a
// cdb verdict.
func TestDebuggerOutput(t *testing.T) {
	e := start(t, results(), false)
	e.srv.d.Outputs = fakeOutputs{"3f2a9c": "0: kd> !analyze -v\n<script>alert(1)</script>\n"}
	w := do(t, e.srv, "GET", "/verdicts/3f2a9c/debugger.txt", nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" || w.Header().Get("X-Content-Type-Options") != "nosniff" ||
		w.Body.String() != "0: kd> !analyze -v\n<script>alert(1)</script>\n" {
		t.Errorf("output: %d %v %q", w.Code, w.Header(), w.Body)
	}
	if w := do(t, e.srv, "GET", "/verdicts/77aa01/debugger.txt", nil); w.Code != 404 || !strings.Contains(w.Body.String(), "No debugger output is kept for 77aa01") {
		t.Errorf("missing output: %d", w.Code)
	}
	if body := do(t, e.srv, "GET", "/verdicts/3f2a9c", nil).Body.String(); !strings.Contains(body, `href="/verdicts/3f2a9c/debugger.txt"`) {
		t.Error("the cdb verdict does not link its debugger output")
	}
	if body := do(t, e.srv, "GET", "/verdicts/77aa01", nil).Body.String(); strings.Contains(body, "debugger.txt") {
		t.Error("a native verdict links a debugger output")
	}
}

// A failed cdb run whose debugger printed something links its whole output; a failed
// analysis with no debugger output does not.
func TestFailedDebuggerOutputLinked(t *testing.T) {
	rs := results()
	f := notifytest.Failed()
	f.Job.ID, f.Engine, f.DebuggerTail = "f00d01", "cdb", "Could not open dump file [x], Win32 error 0n2"
	verdict.Ensure(f)
	e := start(t, append(rs, f), false)
	e.srv.d.Outputs = fakeOutputs{"f00d01": "Could not open dump file [x], Win32 error 0n2\n"}
	if body := do(t, e.srv, "GET", "/verdicts/f00d01", nil).Body.String(); !strings.Contains(body, `href="/verdicts/f00d01/debugger.txt"`) {
		t.Error("the failed cdb verdict does not link its debugger output")
	}
	if body := do(t, e.srv, "GET", "/verdicts/9900ff", nil).Body.String(); strings.Contains(body, "debugger.txt") {
		t.Error("a failed analysis without debugger output links one")
	}
}

// A verdict whose culprit is a suspect says so on its page, and a blamed culprit does not.
func TestVerdictPageSuspect(t *testing.T) {
	rs := append(results(), notifytest.Suspect())
	rs[len(rs)-1].Verdict = nil
	verdict.Ensure(rs[len(rs)-1])
	e := start(t, rs, false)
	body := do(t, e.srv, "GET", "/verdicts/5c1e07", nil).Body.String()
	for _, want := range []string{"<h2>Suspect</h2>", "Why a suspect", "klwfp.sys", "suspect, not proven: the only firewall driver loaded (Kaspersky)"} {
		if !strings.Contains(body, want) {
			t.Errorf("suspect verdict page lacks %q", want)
		}
	}
	if body := do(t, e.srv, "GET", "/verdicts/3f2a9c", nil).Body.String(); strings.Contains(body, "<h2>Suspect</h2>") || !strings.Contains(body, "<h2>Culprit</h2>") {
		t.Error("a blamed culprit is shown as a suspect")
	}
}
