package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/silence"
	"github.com/bsodwatch/bsodwatch/verdict"
)

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// APIError is the body of every API error.
type APIError struct {
	Error string `json:"error"`
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, APIError{Error: msg})
}

// VerdictList is the answer of GET /api/v1/verdicts: the stored verdict objects (as in the
// results stream) of one page, newest crash first.
type VerdictList struct {
	Verdicts []json.RawMessage `json:"verdicts"`
	Total    int               `json:"total"`
	Offset   int               `json:"offset"`
	Limit    int               `json:"limit"`
	// Next is the URL of the next page, when there is one.
	Next string `json:"next,omitempty"`
}

// stored reads the stored verdict objects of items, by stream sequence; a verdict replaced
// since the index saw it is read by its subject.
func (s *Server) stored(ctx context.Context, items []*item) ([]json.RawMessage, error) {
	stream, err := s.d.JS.Stream(ctx, pipeline.ResultsStream)
	if err != nil {
		return nil, fmt.Errorf("results stream: %w", err)
	}
	out := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		m, err := stream.GetMsg(ctx, it.Seq)
		if err != nil || m.Subject != pipeline.ResultSubject(it.ID) {
			m, err = stream.GetLastMsgForSubject(ctx, pipeline.ResultSubject(it.ID))
		}
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // gone past the retention since
		}
		if err != nil {
			return nil, fmt.Errorf("verdict %s: %w", it.ID, err)
		}
		out = append(out, json.RawMessage(m.Data))
	}
	return out, nil
}

func (s *Server) apiVerdicts(w http.ResponseWriter, r *http.Request) {
	f, offset, limit, err := ParseFilter(r.URL.Query(), s.d.Now())
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	items, total := s.idx.list(f, offset, limit)
	vs, err := s.stored(r.Context(), items)
	if err != nil {
		apiError(w, http.StatusBadGateway, err.Error())
		return
	}
	out := VerdictList{Verdicts: vs, Total: total, Offset: offset, Limit: limit}
	if offset+limit < total {
		q := f.Query()
		q.Set("offset", strconv.Itoa(offset+limit))
		q.Set("limit", strconv.Itoa(limit))
		out.Next = "/api/v1/verdicts?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiVerdict(w http.ResponseWriter, r *http.Request) {
	en, err := s.rd.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		apiError(w, http.StatusNotFound, "no verdict "+r.PathValue("id"))
		return
	}
	if err != nil {
		apiError(w, http.StatusBadGateway, err.Error())
		return
	}
	verdict.Ensure(en.Result)
	writeJSON(w, http.StatusOK, en.Result)
}

func (s *Server) apiHosts(w http.ResponseWriter, r *http.Request) {
	f, _, _, err := ParseFilter(r.URL.Query(), s.d.Now())
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"hosts": s.hostList(f)})
}

// hostList is the hosts with crashes and, when the fetcher reports, those without, each
// with the fetcher's view.
func (s *Server) hostList(f Filter) []*HostSummary {
	hs := s.idx.hosts(f)
	seen := map[string]bool{}
	for _, h := range hs {
		seen[strings.ToLower(h.Host)] = true
		h.Fetcher = s.hostState(h.Host)
	}
	if s.d.Hosts != nil && f.Empty() {
		for _, st := range s.d.Hosts.All() {
			if !seen[strings.ToLower(st.Host)] {
				hs = append(hs, &HostSummary{Host: st.Host, Fetcher: s.hostState(st.Host)})
			}
		}
	}
	return hs
}

func (s *Server) hostState(host string) *HostState {
	if s.d.Hosts == nil {
		return nil
	}
	st, ok := s.d.Hosts.Get(host)
	if !ok {
		return nil
	}
	return &HostState{State: st.State, Error: st.Error, Checked: st.Checked, Since: st.Since, LastOK: st.LastOK}
}

func (s *Server) apiBuckets(w http.ResponseWriter, r *http.Request) {
	f, _, _, err := ParseFilter(r.URL.Query(), s.d.Now())
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"buckets": s.bucketList(f)})
}

func (s *Server) bucketList(f Filter) []*BucketSummary {
	bs := s.idx.buckets(f)
	now := s.d.Now()
	for _, b := range bs {
		s.markBucket(b, now)
	}
	return bs
}

func (s *Server) markBucket(b *BucketSummary, now time.Time) {
	for _, e := range s.d.Silences.Of(b.Bucket, now) {
		m := &Mark{Until: e.Until, By: e.By, At: e.At, Comment: e.Comment}
		if e.Kind == silence.KindSilence {
			b.Silenced = m
		} else {
			b.Acknowledged = m
		}
	}
}

func (s *Server) apiIssues(w http.ResponseWriter, r *http.Request) {
	f, _, _, err := ParseFilter(r.URL.Query(), s.d.Now())
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"known_issues": s.idx.issues(f)})
}

func (s *Server) apiSilences(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"silences": s.d.Silences.List(s.d.Now())})
}

// Status is GET /api/v1/status: the index and the pipeline's health.
type Status struct {
	Index    State       `json:"index"`
	Pipeline Pipeline    `json:"pipeline"`
	Rules    RulesStatus `json:"rules"`
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Status{Index: s.idx.state(), Pipeline: s.pipeline(r.Context()), Rules: s.rulesStatus()})
}

// Pipeline is what the overview says of the queue.
type Pipeline struct {
	// Queued is the number of jobs waiting in the jobs stream (analyzing included).
	Queued uint64 `json:"queued"`
	// InFlight is the number of jobs an analyzer holds now.
	InFlight int `json:"in_flight"`
	// Failed is the number of stored verdicts whose analysis failed.
	Failed int    `json:"failed_analyses"`
	Error  string `json:"error,omitempty"`
}

func (s *Server) pipeline(ctx context.Context) Pipeline {
	var p Pipeline
	for _, it := range s.idx.items() {
		if it.Failed() {
			p.Failed++
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := s.d.JS.Stream(ctx, pipeline.JobsStream)
	if err != nil {
		p.Error = "jobs stream: " + err.Error()
		return p
	}
	p.Queued = st.CachedInfo().State.Msgs
	if c, err := st.Consumer(ctx, pipeline.AnalyzerDurable); err == nil {
		p.InFlight = c.CachedInfo().NumAckPending
	}
	return p
}

// RulesStatus is the rules in use.
type RulesStatus struct {
	Dir       string    `json:"dir"`
	Version   string    `json:"version"`
	Rules     int       `json:"rules"`
	LoadedAt  time.Time `json:"loaded_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

func (s *Server) rulesStatus() RulesStatus {
	st := s.d.Rules.Status()
	rs := RulesStatus{Dir: st.Dir, Version: st.Version, Rules: st.Rules, LoadedAt: st.LoadedAt}
	if st.LastError != nil {
		rs.LastError = st.LastError.Error()
	}
	return rs
}

// RuleInfo is one loaded rule as GET /api/v1/rules lists it.
type RuleInfo struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity string   `json:"severity"`
	Tags     []string `json:"tags,omitempty"`
	Flag     bool     `json:"flag"`
	Where    string   `json:"where"`
	Links    []string `json:"links,omitempty"`
	// SelfTest is pass, fail (with Failures) or untested (the rule has no cases of both kinds).
	SelfTest string   `json:"self_test"`
	Failures []string `json:"failures,omitempty"`
	// Crashes is how many stored verdicts it matched.
	Crashes int `json:"crashes"`
}

func (s *Server) apiRules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": s.rulesStatus(), "rules": s.ruleList(r.Context())})
}

// bucketForm is the body of a bucket action, as JSON or a form.
type bucketForm struct {
	// For is how long (Go duration, or d/w: 8h, 7d, 2w), or Until an RFC 3339 time.
	For     string `json:"for"`
	Until   string `json:"until"`
	Comment string `json:"comment"`
}

// apiBucketAction is POST /api/v1/buckets/{bucket}/{ack|silence|unack|unsilence}.
func (s *Server) apiBucketAction(w http.ResponseWriter, r *http.Request, user string) (string, error) {
	bucket, action := r.PathValue("bucket"), r.PathValue("action")
	aw := w.(*auditWriter)
	aw.action = action
	var kind string
	switch action {
	case "ack", "unack":
		kind = silence.KindAck
	case "silence", "unsilence":
		kind = silence.KindSilence
	default:
		msg := fmt.Sprintf("action %q: want ack, silence, unack or unsilence", action)
		s.refuse(w, r, http.StatusNotFound, msg)
		return bucket, errors.New(msg)
	}
	now := s.d.Now().UTC()
	if strings.HasPrefix(action, "un") {
		if !aw.begin(bucket, "") {
			return bucket, nil
		}
		if err := s.d.Silences.Delete(r.Context(), kind, bucket); err != nil {
			s.refuse(w, r, http.StatusBadGateway, err.Error())
			return bucket, err
		}
		s.actionDone(w, r, bucket, map[string]any{"bucket": bucket, "ended": kind})
		return bucket, nil
	}
	var f bucketForm
	if isForm(r) {
		f = bucketForm{For: r.PostForm.Get("for"), Until: r.PostForm.Get("until"), Comment: r.PostForm.Get("comment")}
	} else if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			s.refuse(w, r, http.StatusBadRequest, "bad JSON: "+err.Error())
			return bucket, err
		}
	}
	e := silence.Entry{Bucket: bucket, Kind: kind, By: user, At: now, Comment: strings.TrimSpace(f.Comment)}
	switch {
	case f.Until != "":
		t, err := time.Parse(time.RFC3339, f.Until)
		if err != nil {
			s.refuse(w, r, http.StatusBadRequest, fmt.Sprintf("until %q: want an RFC 3339 time", f.Until))
			return bucket, err
		}
		e.Until = t
	case f.For != "":
		d, err := parseFor(f.For)
		if err != nil {
			s.refuse(w, r, http.StatusBadRequest, err.Error())
			return bucket, err
		}
		e.Until = now.Add(d)
	default:
		err := errors.New("say for how long (for: 8h, 7d) or until when (until: RFC 3339)")
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return bucket, err
	}
	if err := e.Check(now); err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return bucket, err
	}
	if !aw.begin(bucket, "until "+e.Until.Format(time.RFC3339)) {
		return bucket, nil
	}
	if err := s.d.Silences.Put(r.Context(), e); err != nil {
		s.refuse(w, r, http.StatusBadGateway, err.Error())
		return bucket, err
	}
	s.actionDone(w, r, bucket, e)
	return bucket, nil
}

// parseFor reads a duration as people write it (Go durations, d for days, w for weeks).
func parseFor(s string) (time.Duration, error) {
	now := time.Unix(1e9, 0)
	t, err := history.ParseSince(s, now)
	if err != nil || !t.Before(now) || strings.ContainsAny(s, ":T") {
		return 0, fmt.Errorf("for %q: want a duration such as 8h, 7d or 2w", s)
	}
	return now.Sub(t), nil
}

// actionDone answers a successful action: JSON for the API, back to the page for a form.
func (s *Server) actionDone(w http.ResponseWriter, r *http.Request, bucket string, v any) {
	if isForm(r) {
		back := "/buckets/" + url.PathEscape(bucket)
		if id := r.PathValue("id"); id != "" {
			back = "/verdicts/" + url.PathEscape(id)
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// Reanalysis is the answer of POST /api/v1/verdicts/{id}/reanalyze.
type Reanalysis struct {
	ID      string   `json:"id"`
	Changed bool     `json:"changed"`
	Old     []string `json:"old"`
	New     []string `json:"new"`
	Rules   string   `json:"rules_version"`
}

// apiReanalyze re-applies the rules in use to a stored verdict and re-issues it when its
// known issues change (history.Reapply, as `bsodwatch reanalyze` does).
func (s *Server) apiReanalyze(w http.ResponseWriter, r *http.Request, user string) (string, error) {
	id := r.PathValue("id")
	aw := w.(*auditWriter)
	en, err := s.rd.Get(r.Context(), id)
	if err != nil {
		s.refuse(w, r, getStatus(err), err.Error())
		return id, err
	}
	rs := s.d.Rules.Current()
	if rs == nil {
		err := errors.New("no rules are loaded")
		s.refuse(w, r, http.StatusServiceUnavailable, err.Error())
		return id, err
	}
	old := history.RuleIDs(en.Result.Matches)
	if !aw.begin(id, "rules "+rs.Version()) {
		return id, nil
	}
	c, changed, err := history.Reapply(r.Context(), s.d.JS, rs, en, "", false)
	if err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, history.ErrRaced) {
			code = http.StatusConflict
		}
		s.refuse(w, r, code, err.Error())
		return id, err
	}
	out := Reanalysis{ID: id, Changed: changed, Old: old, New: old, Rules: rs.Version()}
	if changed {
		out.New = c.New
	}
	s.actionDone(w, r, "", out)
	return id, nil
}
