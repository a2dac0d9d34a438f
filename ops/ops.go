// Package ops serves what an operator points tools at: Prometheus metrics on /metrics and a
// health check on /healthz, one HTTP server per process. Roles register their metrics on the
// Registry, their health checks (NATS connected, rules loaded) with AddCheck, and further
// handlers (the web console) with Handle, so that everything is on one address, as
// Prometheus and Alertmanager do. With a web configuration file in the Prometheus
// exporter-toolkit format (TLS, bcrypt basic-auth users) the whole listener is served
// through github.com/prometheus/exporter-toolkit/web; bsodwatch insists that such a file
// names users, so with it nothing is served without authentication.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	toolkit "github.com/prometheus/exporter-toolkit/web"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/internal/optcheck"
)

// Options configure the HTTP server.
type Options struct {
	// Listen is the address of /metrics and /healthz, e.g. 127.0.0.1:9464 or :9464 in a
	// container; empty turns the server off. Default: 127.0.0.1:9464.
	Listen string `yaml:"listen"`
	// WebConfigFile is a web configuration in the Prometheus exporter-toolkit format
	// (tls_server_config, basic_auth_users with bcrypt hashes, http_server_config) for
	// everything on this listener: /metrics, /healthz and the web console. It must name at
	// least one user: with it, nothing is served without authentication. It is read again
	// on every request and TLS handshake, so users and certificates change without a
	// restart. Flag --web.config.file. Default none: plain HTTP without authentication,
	// and the web console then only on a loopback address.
	WebConfigFile string `yaml:"web_config_file"`
}

// DefaultListen is the default metrics address (9464 is the port Prometheus' registry lists
// for OpenTelemetry exporters; it is seldom taken).
const DefaultListen = "127.0.0.1:9464"

// CheckFunc reports a problem, or nil when healthy. It must return before ctx ends.
type CheckFunc func(ctx context.Context) error

// Server holds the registry and health checks of one process.
type Server struct {
	reg *prometheus.Registry
	log zerolog.Logger

	mu     sync.Mutex
	checks map[string]CheckFunc
	mounts []mount
}

type mount struct {
	pattern string
	h       http.Handler
}

// New makes a registry with the Go runtime, process and build-info collectors and
// bsodwatch_build_info{version, role}.
func New(role string, log zerolog.Logger) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "bsodwatch_build_info",
		Help:        "Always 1; labels say which bsodwatch build and role this process runs.",
		ConstLabels: prometheus.Labels{"version": Version(), "role": role},
	})
	info.Set(1)
	reg.MustRegister(info)
	return &Server{reg: reg, log: log, checks: map[string]CheckFunc{}}
}

// Version is the module version the binary was built from, or "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Registry is where roles register their metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// AddCheck registers a named health check; a later check of the same name replaces it.
func (s *Server) AddCheck(name string, fn CheckFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = fn
}

// Health is the body of /healthz.
type Health struct {
	Status string            `json:"status"` // "ok" or "fail"
	Checks map[string]string `json:"checks"` // name -> "ok" or the problem
}

// Check runs every health check, each with a 5 s limit, concurrently.
func (s *Server) Check(ctx context.Context) Health {
	s.mu.Lock()
	checks := make(map[string]CheckFunc, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	h := Health{Status: "ok", Checks: make(map[string]string, len(checks))}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, fn := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			res := "ok"
			if err := runCheck(cctx, fn); err != nil {
				res = err.Error()
			}
			mu.Lock()
			h.Checks[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, v := range h.Checks {
		if v != "ok" {
			h.Status = "fail"
		}
	}
	return h
}

// runCheck turns a panicking check into a failed one: a health endpoint must not crash the
// process it reports on.
func runCheck(ctx context.Context, fn CheckFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()
	return fn(ctx)
}

// Handle mounts h on pattern (http.ServeMux syntax) beside /metrics and /healthz; "/"
// replaces the plain text index. Mount before Start.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts = append(s.mounts, mount{pattern, h})
}

// Handler serves /metrics, /healthz and what was mounted with Handle.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.mu.Lock()
	mounts := slices.Clone(s.mounts)
	s.mu.Unlock()
	root := false
	for _, m := range mounts {
		mux.Handle(m.pattern, m.h)
		root = root || m.pattern == "/"
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := s.Check(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
	if !root {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, "bsodwatch: see /metrics and /healthz")
		})
	}
	return mux
}

// Listener is a started HTTP server.
type Listener struct {
	addr net.Addr
	tls  bool
	done chan error
}

// Addr is the address actually bound (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.addr }

// URL is the base URL of the server ("http://127.0.0.1:9464"; https with TLS), with
// "localhost" for an address that binds every interface.
func (l *Listener) URL() string {
	host, port, _ := net.SplitHostPort(l.addr.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	scheme := "http"
	if l.tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Wait blocks until the server has stopped and returns its error, nil after a clean stop.
func (l *Listener) Wait() error { return <-l.done }

// Start binds o.Listen at once, so that a taken port is reported to the caller, then serves
// until ctx ends and shuts down gracefully (5 s for open requests). With o.WebConfigFile
// the server runs through the exporter-toolkit (TLS, basic auth); the file is checked
// first (CheckWebConfig).
func (s *Server) Start(ctx context.Context, o Options) (*Listener, error) {
	var wc WebConfig
	if o.WebConfigFile != "" {
		var err error
		if wc, err = CheckWebConfig(o.WebConfigFile); err != nil {
			return nil, err
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	l := &Listener{addr: ln.Addr(), tls: wc.TLS, done: make(chan error, 1)}
	flags := &toolkit.FlagConfig{WebConfigFile: &o.WebConfigFile}
	slogger := slog.New(zerolog.NewSlogHandler(s.log.With().Str("component", "web").Logger()))
	go func() {
		errc := make(chan error, 1)
		go func() { errc <- toolkit.Serve(ln, srv, flags, slogger) }()
		select {
		case err := <-errc:
			l.done <- fmt.Errorf("metrics server: %w", err)
			return
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		l.done <- err
	}()
	s.log.Info().Str("addr", ln.Addr().String()).Bool("tls", wc.TLS).Bool("auth", o.WebConfigFile != "").Msg("serving /metrics and /healthz")
	return l, nil
}

// WebConfig is what bsodwatch reads of a web configuration file itself; the exporter-toolkit
// reads the rest.
type WebConfig struct {
	// Users are the basic-auth user names.
	Users []string
	// TLS is set when the file configures a server certificate.
	TLS bool
}

// CheckWebConfig checks a web configuration file as the exporter-toolkit will read it (YAML,
// bcrypt hashes, certificate and key) and insists on at least one basic-auth user.
func CheckWebConfig(path string) (WebConfig, error) {
	var wc WebConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return wc, fmt.Errorf("web config: %w", err)
	}
	if err := toolkit.Validate(path); err != nil {
		return wc, fmt.Errorf("web config %s: %w", path, err)
	}
	var doc struct {
		TLS struct {
			Cert     string `yaml:"cert"`
			CertFile string `yaml:"cert_file"`
		} `yaml:"tls_server_config"`
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return wc, fmt.Errorf("web config %s: %w", path, err)
	}
	for u := range doc.Users {
		wc.Users = append(wc.Users, u)
	}
	slices.Sort(wc.Users)
	if len(wc.Users) == 0 {
		return wc, fmt.Errorf("web config %s: no basic_auth_users: bsodwatch serves nothing without authentication when a web config is given (add a user with a bcrypt hash, e.g. from htpasswd -nBC 10 NAME)", path)
	}
	wc.TLS = doc.TLS.Cert != "" || doc.TLS.CertFile != ""
	return wc, nil
}

// IsLoopback reports whether a listen address binds only the loopback interface
// (127.0.0.0/8, ::1, localhost); an empty host binds every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate reports a listen address that net.Listen would refuse and a web configuration
// file that the exporter-toolkit would refuse or that names no user.
func (o Options) Validate() error {
	var ps optcheck.Problems
	if o.Listen != "" {
		if err := CheckListen(o.Listen); err != nil {
			ps.Addf("listen", "%s", err)
		}
	}
	if o.WebConfigFile != "" {
		if _, err := CheckWebConfig(o.WebConfigFile); err != nil {
			ps.Addf("web_config_file", "%s", err)
		}
	}
	return ps.Err()
}

// CheckListen checks a listen address the way net.Listen and the embedded NATS server parse
// it: host:port, the host may be empty (every address), the port 0 to 65535.
func CheckListen(addr string) error {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: want host:port", addr)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	return nil
}
