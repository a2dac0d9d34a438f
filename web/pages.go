package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/debugout"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/silence"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// pageNames are the page templates; each is parsed with layout.html.
var pageNames = []string{"overview", "verdicts", "verdict", "hosts", "host", "buckets", "bucket", "issues", "rules", "error"}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": func(id string) string {
		if len(id) > 12 {
			return id[:12]
		}
		return id
	},
	"pathEsc": url.PathEscape,
	// link builds a URL of base with the parameters given in pairs.
	"link": func(base string, kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		if len(v) == 0 {
			return template.URL(base)
		}
		return template.URL(base + "?" + v.Encode())
	},
	"join": strings.Join,
	"f1":   func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) },
	"plus": func(a, b int) int { return a + b },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
}

func parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web templates: %w", err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what every page template gets.
type page struct {
	Title  string
	Nav    string
	User   string
	CSRF   string
	Auth   bool
	Index  State
	Filter Filter
	Data   any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	p.User = s.user(r)
	p.Auth = s.d.Auth
	if p.User != "" {
		p.CSRF = s.csrfToken(p.User)
	}
	p.Index = s.idx.state()
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("web: page failed to render")
		http.Error(w, "the page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", page{Title: http.StatusText(code), Data: struct {
		Code int
		Msg  string
	}{code, msg}})
}

// filter reads the page's filter, answering a bad one with a 400 page.
func (s *Server) filter(w http.ResponseWriter, r *http.Request) (Filter, int, int, bool) {
	f, off, lim, err := ParseFilter(r.URL.Query(), s.d.Now())
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return f, 0, 0, false
	}
	return f, off, lim, true
}

// Overview is the data of the overview page.
type Overview struct {
	Chart    *Chart
	Range    string
	Ranges   []string
	Hosts    []*HostSummary
	Marked   []*item // new buckets and regressions, newest first
	Issues   []*IssueSummary
	Unknown  []*BucketSummary // buckets no rule explains
	Pipeline Pipeline
	Rules    RulesStatus
	Counts   struct{ Verdicts, Hosts, Known, Unknown, Failed int }
}

func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request) {
	now := s.d.Now()
	items := s.idx.items()
	from, to, bin, key, span := window(r.URL.Query().Get("range"), items, now)
	o := &Overview{Chart: chart(items, from, to, bin, span), Range: key, Pipeline: s.pipeline(r.Context()), Rules: s.rulesStatus()}
	for _, rg := range ranges {
		o.Ranges = append(o.Ranges, rg.key)
	}
	inRange := Filter{Since: from, Until: to}
	hosts := s.idx.hostsOf(Filter{}, false)
	o.Counts.Hosts = len(hosts)
	o.Hosts = hosts[:min(len(hosts), 10)]
	for _, h := range o.Hosts {
		h.Fetcher = s.hostState(h.Host)
	}
	for _, it := range items {
		o.Counts.Verdicts++
		switch it.Class() {
		case "known":
			o.Counts.Known++
		case "failed":
			o.Counts.Failed++
		default:
			o.Counts.Unknown++
		}
		if (it.Marks.NewBucket || it.Marks.Regression) && len(o.Marked) < 10 {
			o.Marked = append(o.Marked, it)
		}
	}
	is := s.idx.issues(inRange)
	o.Issues = is[:min(len(is), 10)]
	for _, b := range s.idx.buckets(Filter{Class: "unknown", Since: from, Until: to}) {
		if len(o.Unknown) == 10 {
			break
		}
		o.Unknown = append(o.Unknown, b)
	}
	s.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: o})
}

// VerdictsPage is the search page.
type VerdictsPage struct {
	Items          []*item
	Total          int
	Offset, Limit  int
	Prev, Next     template.URL
	Query          url.Values
	Since, Until   string
	Classes, Kinds []string
}

func (s *Server) pageVerdicts(w http.ResponseWriter, r *http.Request) {
	f, off, lim, ok := s.filter(w, r)
	if !ok {
		return
	}
	items, total := s.idx.list(f, off, lim)
	p := &VerdictsPage{Items: items, Total: total, Offset: off, Limit: lim, Query: r.URL.Query(),
		Since: r.URL.Query().Get("since"), Until: r.URL.Query().Get("until"),
		Classes: []string{"known", "unknown", "failed"},
		Kinds: []string{analysis.KindBugcheck, analysis.KindException, analysis.KindHang, analysis.KindManual,
			analysis.KindLive, analysis.KindHardware, analysis.KindNoCrash, analysis.KindFailed}}
	pageURL := func(o int) template.URL {
		q := f.Query()
		q.Set("offset", strconv.Itoa(o))
		if lim != DefaultLimit {
			q.Set("limit", strconv.Itoa(lim))
		}
		return template.URL("/verdicts?" + q.Encode())
	}
	if off > 0 {
		p.Prev = pageURL(max(off-lim, 0))
	}
	if off+lim < total {
		p.Next = pageURL(off + lim)
	}
	s.render(w, r, http.StatusOK, "verdicts", page{Title: "Verdicts", Nav: "verdicts", Filter: f, Data: p})
}

// VerdictPage is the data of one verdict's page.
type VerdictPage struct {
	R        *pipeline.Result
	V        *analysis.Verdict
	A        *analysis.Analysis
	Issues   []analysis.Match
	Flags    []analysis.Match
	Class    string
	Bucket   string
	Crash    time.Time
	Stored   time.Time
	Silences []silence.Entry
	Dump     bool // the share is readable here
	Output   bool // a whole debugger output may be kept (cdb verdicts)
	Fields   []kv
	Others   int // other crashes of the host
}

type kv struct{ K, V string }

func sortedKV(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.K, b.K) })
	return out
}

func (s *Server) pageVerdict(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	en, err := s.rd.Get(r.Context(), id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		s.errorPage(w, r, http.StatusNotFound, "No verdict "+id+" is stored (it may have passed the retention).")
		return
	}
	if err != nil {
		s.errorPage(w, r, http.StatusBadGateway, err.Error())
		return
	}
	res := en.Result
	v := verdict.Ensure(res)
	p := &VerdictPage{R: res, V: v, A: res.Analysis, Bucket: res.Bucket(), Stored: en.Stored, Dump: s.d.Dumps != nil}
	// A failed cdb run's output is kept when the debugger printed any (its end is shown).
	p.Output = s.d.Outputs != nil && res.Engine == "cdb" && (res.Status != pipeline.StatusFailed || res.DebuggerTail != "")
	p.Issues, p.Flags = analysis.Explaining(res.Matches)
	p.Crash, p.Class = history.CrashTime(res), classOf(res)
	if p.A != nil {
		p.Fields = sortedKV(p.A.Fields)
	}
	p.Silences = s.d.Silences.Of(p.Bucket, s.d.Now())
	_, p.Others = s.idx.list(Filter{Host: res.Job.Host}, 0, 0)
	p.Others--
	s.render(w, r, http.StatusOK, "verdict", page{Title: v.Headline, Nav: "verdicts", Data: p})
}

// debuggerOutput serves the whole debugger output of a verdict as plain text (never
// rendered: text/plain with nosniff).
func (s *Server) debuggerOutput(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.d.Outputs == nil {
		s.errorPage(w, r, http.StatusNotFound, "Debugger outputs are not kept here.")
		return
	}
	b, err := s.d.Outputs.Get(r.Context(), id)
	if errors.Is(err, debugout.ErrNotFound) {
		s.errorPage(w, r, http.StatusNotFound, "No debugger output is kept for "+id+" (the native engine ran, or it expired).")
		return
	}
	if err != nil {
		s.errorPage(w, r, http.StatusBadGateway, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", "inline")
	_, _ = w.Write(b)
}

// getStatus is the HTTP status of a failed read of a stored verdict: 404 when there is none,
// 502 when the stream could not answer.
func getStatus(err error) int {
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return http.StatusNotFound
	}
	return http.StatusBadGateway
}

// downloadDump sends a verdict's dump from the share (audited before the first byte).
func (s *Server) downloadDump(w http.ResponseWriter, r *http.Request, user string) (string, error) {
	id := r.PathValue("id")
	aw := w.(*auditWriter)
	if s.d.Dumps == nil {
		err := errors.New("the dump share is not readable from this process (it could not be opened at start, see the log): fetch the dump from the share itself")
		s.refuse(w, r, http.StatusNotImplemented, err.Error())
		return id, err
	}
	en, err := s.rd.Get(r.Context(), id)
	if err != nil {
		s.refuse(w, r, getStatus(err), err.Error())
		return id, err
	}
	if at := en.Result.PrunedAt; !at.IsZero() {
		err := fmt.Errorf("dump %s was pruned on %s by the share's retention; the verdict stays", en.Result.Job.SharePath, at.UTC().Format("2006-01-02"))
		s.refuse(w, r, http.StatusGone, err.Error())
		return id, err
	}
	f, size, err := s.d.Dumps.OpenDump(r.Context(), en.Result.Job.SharePath)
	if err != nil {
		err = fmt.Errorf("dump %s is not on the share: %w", en.Result.Job.SharePath, err)
		s.refuse(w, r, http.StatusNotFound, err.Error())
		return id, err
	}
	defer f.Close()
	if !aw.begin(id, en.Result.Job.SharePath) {
		return id, nil
	}
	name := strings.NewReplacer(`"`, "", `\`, "", "\r", "", "\n", "").Replace(en.Result.Job.Host + "-" + path.Base(en.Result.Job.SharePath))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mimeAttachment(name))
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, f)
	}
	return id, nil
}

func mimeAttachment(name string) string {
	return `attachment; filename="` + strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, name) + `"; filename*=UTF-8''` + url.PathEscape(name)
}

// HostPage is one host's page.
type HostPage struct {
	Host   *HostSummary
	Chart  *Chart
	Items  []*item
	Total  int
	Recent []*item
}

func (s *Server) pageHosts(w http.ResponseWriter, r *http.Request) {
	f, _, _, ok := s.filter(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "hosts", page{Title: "Hosts", Nav: "hosts", Filter: f, Data: s.hostList(f)})
}

func (s *Server) pageHost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("host")
	hs := s.idx.hosts(Filter{Host: name})
	var h *HostSummary
	if len(hs) > 0 {
		h = hs[0]
	} else if st := s.hostState(name); st != nil {
		h = &HostSummary{Host: name}
	} else {
		s.errorPage(w, r, http.StatusNotFound, "No crash of host "+name+" is stored, and the fetcher reports no such host.")
		return
	}
	h.Fetcher = s.hostState(h.Host)
	from, to, bin, _, span := window(r.URL.Query().Get("range"), h.items, s.d.Now())
	p := &HostPage{Host: h, Chart: chart(h.items, from, to, bin, span), Total: len(h.items)}
	p.Items = h.items[:min(len(h.items), 200)]
	s.render(w, r, http.StatusOK, "host", page{Title: h.Host, Nav: "hosts", Filter: Filter{Host: h.Host}, Data: p})
}

func (s *Server) pageBuckets(w http.ResponseWriter, r *http.Request) {
	f, _, _, ok := s.filter(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "buckets", page{Title: "Buckets", Nav: "buckets", Filter: f, Data: s.bucketList(f)})
}

// BucketPage is one bucket's page.
type BucketPage struct {
	B      *BucketSummary
	Chart  *Chart
	Items  []*item
	Hosts  []string
	Issues []analysis.Match // the newest verdict's known issues, in full
	Now    time.Time
}

func (s *Server) pageBucket(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("bucket")
	bs := s.idx.buckets(Filter{Bucket: name})
	if len(bs) == 0 {
		s.errorPage(w, r, http.StatusNotFound, "No verdict of bucket "+name+" is stored.")
		return
	}
	b := bs[0]
	s.markBucket(b, s.d.Now())
	from, to, bin, _, span := window(r.URL.Query().Get("range"), b.items, s.d.Now())
	p := &BucketPage{B: b, Chart: chart(b.items, from, to, bin, span), Items: b.items[:min(len(b.items), 200)], Hosts: b.hostNames, Now: s.d.Now()}
	if en, err := s.rd.Get(r.Context(), b.LastID); err == nil {
		p.Issues, _ = analysis.Explaining(en.Result.Matches)
	}
	s.render(w, r, http.StatusOK, "bucket", page{Title: b.Bucket, Nav: "buckets", Filter: Filter{Bucket: b.Bucket}, Data: p})
}

// IssuesPage lists known issues hit, and the rules that explain nothing yet.
type IssuesPage struct {
	Hit     []*IssueSummary
	Unknown []*BucketSummary
}

func (s *Server) pageIssues(w http.ResponseWriter, r *http.Request) {
	f, _, _, ok := s.filter(w, r)
	if !ok {
		return
	}
	uf := f
	uf.Class = "unknown"
	p := &IssuesPage{Hit: s.idx.issues(f), Unknown: s.bucketList(uf)}
	s.render(w, r, http.StatusOK, "issues", page{Title: "Known issues", Nav: "issues", Filter: f, Data: p})
}

// RulesPage is the rules page.
type RulesPage struct {
	Status RulesStatus
	Rules  []RuleInfo
	Failed int
}

func (s *Server) pageRules(w http.ResponseWriter, r *http.Request) {
	p := &RulesPage{Status: s.rulesStatus(), Rules: s.ruleList(r.Context())}
	for _, ri := range p.Rules {
		if ri.SelfTest == "fail" {
			p.Failed++
		}
	}
	s.render(w, r, http.StatusOK, "rules", page{Title: "Rules", Nav: "rules", Data: p})
}

// ruleList lists the rules in use with their self-test outcome (run once per rule-set
// version) and how many stored verdicts each matched.
func (s *Server) ruleList(ctx context.Context) []RuleInfo {
	rs := s.d.Rules.Current()
	if rs == nil {
		return nil
	}
	rep := s.selfTest(ctx, rs)
	byRule := map[string][]string{}
	passed := map[string]int{}
	if rep != nil {
		for _, c := range rep.Cases {
			switch c.Status {
			case rules.StatusFail:
				byRule[c.Rule] = append(byRule[c.Rule], c.Name+": "+c.Detail)
			case rules.StatusPass:
				passed[c.Rule]++
			}
		}
	}
	counts := map[string]int{}
	for _, it := range s.idx.items() {
		for _, m := range it.Issues {
			counts[m.ID]++
		}
		for _, f := range it.Flags {
			counts[f]++
		}
	}
	var out []RuleInfo
	for _, ru := range rs.Rules() {
		m := analysis.Match{Tags: ru.Tags}
		ri := RuleInfo{ID: ru.ID, Title: ru.Title, Severity: ru.Severity, Tags: ru.Tags, Flag: m.IsFlag(),
			Where: ru.Pos.String(), Links: ru.Links, Crashes: counts[ru.ID], SelfTest: "pass"}
		switch {
		case len(byRule[ru.ID]) > 0:
			ri.SelfTest, ri.Failures = "fail", byRule[ru.ID]
		case !ru.Tested():
			ri.SelfTest = "untested"
		case rep == nil || passed[ru.ID] == 0:
			ri.SelfTest = "skipped" // its cases need files not here (shared test material)
		}
		out = append(out, ri)
	}
	return out
}

func (s *Server) selfTest(ctx context.Context, rs *rules.Set) *rules.TestReport {
	s.selftest.Lock()
	defer s.selftest.Unlock()
	if s.selftest.version != rs.Version() {
		rep := rs.Test(ctx, rules.TestOptions{})
		s.selftest.version, s.selftest.report = rs.Version(), &rep
	}
	return s.selftest.report
}

// classOf is known, unknown or failed.
func classOf(r *pipeline.Result) string {
	issues, _ := analysis.Explaining(r.Matches)
	switch {
	case r.Status == pipeline.StatusFailed:
		return "failed"
	case len(issues) > 0:
		return "known"
	}
	return "unknown"
}
