// Package web is bsodwatch's web console and HTTP API: every stored verdict, host, bucket
// and known issue, the evidence behind each verdict, and the rules in use. It is served on
// the process's ops listener beside /metrics and /healthz (ops.Server.Handle), by
// `bsodwatch run` and by the web role alone (`bsodwatch web`) against a cluster.
//
// Pages are Go html/template (every value from a dump, the debugger or a rule is escaped
// by it) with embedded CSS, no JavaScript, and charts drawn as SVG on the server. They and
// the JSON API (/api/v1/...) read an in-memory index of the results stream, kept current
// by an ordered consumer, so a page over 100,000 verdicts is one pass over memory; a
// verdict's whole record is read from the stream when it is shown.
//
// Security: with the listener's web configuration (ops.Options.WebConfigFile) every request
// is authenticated by the exporter-toolkit; without it the console listens on loopback
// only (app refuses another address) and is read-only. Dump downloads and write actions
// (acknowledge, silence, re-analysis) need an authenticated user, are written to the audit
// log, and POSTs are checked against cross-site requests (Sec-Fetch-Site/Origin, and a
// per-user token in forms). See docs/web.md.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/hoststatus"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/silence"
)

// Options configure the web console (the `web` section).
type Options struct {
	// ExternalURL is the address people open the console at, when it is not the listener's
	// own (behind a reverse proxy: https://bsodwatch.example). Chat messages link to
	// <external_url>/verdicts/{id} when notifier.result_url is not set. Default: the
	// listener's URL in the process that serves the console.
	ExternalURL string `yaml:"external_url"`
	// AuditFile records every dump download and write action (acknowledge, silence,
	// re-analysis), one JSON line each: time, user, action, target, remote address,
	// outcome. Default <data_dir>/audit.log.
	AuditFile string `yaml:"audit_file"`
}

// Validate reports every problem with o at once (optcheck.Problems keyed like the YAML).
func (o Options) Validate() error {
	var ps optcheck.Problems
	if o.ExternalURL != "" {
		u, err := url.Parse(o.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Addf("external_url", "%q: want an http(s) URL", o.ExternalURL)
		}
	}
	return ps.Err()
}

// VerdictPath is the console's page of one verdict ("{id}" stands for the job ID), the
// default of notifier.result_url when the console is served.
const VerdictPath = "/verdicts/{id}"

// RuleSource is the rules in use (*rules.Reloader).
type RuleSource interface {
	Current() *rules.Set
	Status() rules.Status
}

// HostSource is the fetcher's view of the hosts (*hoststatus.Reader).
type HostSource interface {
	All() []hoststatus.Status
	Get(host string) (hoststatus.Status, bool)
}

// SilenceStore keeps acknowledgements and silences (*silence.Store).
type SilenceStore interface {
	Of(bucket string, t time.Time) []silence.Entry
	List(t time.Time) []silence.Entry
	Put(ctx context.Context, e silence.Entry) error
	Delete(ctx context.Context, kind, bucket string) error
}

// DumpOpener opens a dump on the share by its share path, with its size (*dumpshare.Local,
// the SMB share).
type DumpOpener interface {
	OpenDump(ctx context.Context, rel string) (io.ReadCloser, int64, error)
}

// OutputSource gives the whole debugger output of a verdict (*debugout.Store); the error
// wraps debugout.ErrNotFound when none is kept.
type OutputSource interface {
	Get(ctx context.Context, jobID string) ([]byte, error)
}

// Deps are what the console works with. JS, Rules and Silences are required.
type Deps struct {
	JS       jetstream.JetStream
	Log      zerolog.Logger
	Rules    RuleSource
	Silences SilenceStore
	// Hosts may be nil: no fetcher reports (the host pages then show crashes only).
	Hosts HostSource
	// Dumps may be nil: the share is not readable here, downloads say so.
	Dumps DumpOpener
	// Outputs may be nil: whole debugger outputs are not shown.
	Outputs OutputSource
	// Auth says that every request was authenticated (a web configuration with users);
	// without it nobody may download or change anything.
	Auth bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the console: an http.Handler for the ops listener.
type Server struct {
	o     Options
	d     Deps
	log   zerolog.Logger
	idx   *index
	rd    *history.Reader
	pages map[string]*template.Template
	mux   *http.ServeMux
	audit *auditLog
	key   []byte // signs the forms' CSRF tokens

	selftest struct {
		sync.Mutex
		version string
		report  *rules.TestReport
	}
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New builds the console. The audit log is opened at once, so a path that cannot be
// written is reported before anything is served.
func New(o Options, d Deps) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if d.JS == nil || d.Rules == nil || d.Silences == nil {
		return nil, errors.New("web: JetStream, rules and silences are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{o: o, d: d, log: d.Log.With().Str("role", "web").Logger(), idx: newIndex(),
		rd: &history.Reader{JS: d.JS, Log: d.Log}, key: make([]byte, 32)}
	if _, err := rand.Read(s.key); err != nil {
		return nil, err
	}
	var err error
	if s.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	if o.AuditFile != "" {
		if s.audit, err = openAudit(o.AuditFile); err != nil {
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// Run keeps the index current from the results stream until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	for {
		err := s.idx.follow(ctx, s.d.JS, s.log)
		if ctx.Err() != nil {
			return nil
		}
		s.idx.setErr(err)
		s.log.Warn().Err(err).Msg("web: reading the results stream; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// Close closes the audit log.
func (s *Server) Close() error {
	if s.audit != nil {
		return s.audit.close()
	}
	return nil
}

// IndexState reports how far the index has read the results stream.
func (s *Server) IndexState() State { return s.idx.state() }

// ServeHTTP serves the pages, the API and the static files.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// No script runs on these pages, and nothing loads from elsewhere.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	m.HandleFunc("GET /{$}", s.pageOverview)
	m.HandleFunc("GET /verdicts", s.pageVerdicts)
	m.HandleFunc("GET /verdicts/{id}", s.pageVerdict)
	m.HandleFunc("GET /verdicts/{id}/dump", s.writer("download", s.downloadDump))
	m.HandleFunc("GET /verdicts/{id}/debugger.txt", s.debuggerOutput)
	m.HandleFunc("GET /hosts", s.pageHosts)
	m.HandleFunc("GET /hosts/{host}", s.pageHost)
	m.HandleFunc("GET /buckets", s.pageBuckets)
	m.HandleFunc("GET /buckets/{bucket}", s.pageBucket)
	m.HandleFunc("GET /issues", s.pageIssues)
	m.HandleFunc("GET /rules", s.pageRules)

	m.HandleFunc("GET /api/v1/verdicts", s.apiVerdicts)
	m.HandleFunc("GET /api/v1/verdicts/{id}", s.apiVerdict)
	m.HandleFunc("GET /api/v1/hosts", s.apiHosts)
	m.HandleFunc("GET /api/v1/buckets", s.apiBuckets)
	m.HandleFunc("GET /api/v1/issues", s.apiIssues)
	m.HandleFunc("GET /api/v1/rules", s.apiRules)
	m.HandleFunc("GET /api/v1/silences", s.apiSilences)
	m.HandleFunc("GET /api/v1/status", s.apiStatus)

	m.HandleFunc("POST /api/v1/buckets/{bucket}/{action}", s.post("bucket", s.apiBucketAction))
	m.HandleFunc("POST /api/v1/verdicts/{id}/reanalyze", s.post("reanalyze", s.apiReanalyze))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no such API call: %s %s", r.Method, r.URL.Path))
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	s.mux = m
}
