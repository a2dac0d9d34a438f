// Package ops serves what an operator points tools at: Prometheus metrics on /metrics and a
// health check on /healthz, one HTTP server per process. Roles register their metrics on the
// Registry and their health checks (NATS connected, rules loaded) with AddCheck.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/internal/optcheck"
)

// Options configure the HTTP server.
type Options struct {
	// Listen is the address of /metrics and /healthz, e.g. 127.0.0.1:9464 or :9464 in a
	// container; empty turns the server off. Default: 127.0.0.1:9464.
	Listen string `yaml:"listen"`
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

// Handler serves /metrics and /healthz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := s.Check(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(h)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "bsodwatch: see /metrics and /healthz")
	})
	return mux
}

// Listener is a started HTTP server.
type Listener struct {
	addr net.Addr
	done chan error
}

// Addr is the address actually bound (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.addr }

// Wait blocks until the server has stopped and returns its error, nil after a clean stop.
func (l *Listener) Wait() error { return <-l.done }

// Start binds addr at once, so that a taken port is reported to the caller, then serves
// until ctx ends and shuts down gracefully (5 s for open requests).
func (s *Server) Start(ctx context.Context, addr string) (*Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	l := &Listener{addr: ln.Addr(), done: make(chan error, 1)}
	go func() {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
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
	s.log.Info().Str("addr", ln.Addr().String()).Msg("serving /metrics and /healthz")
	return l, nil
}

// Validate reports a listen address that net.Listen would refuse.
func (o Options) Validate() error {
	var ps optcheck.Problems
	if o.Listen != "" {
		if err := CheckListen(o.Listen); err != nil {
			ps.Addf("listen", "%s", err)
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
