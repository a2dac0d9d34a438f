package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func TestServer(t *testing.T) {
	s := New("test", zerolog.Nop())
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "bsodwatch_test_things_total", Help: "things"})
	s.Registry().MustRegister(c)
	c.Add(3)
	failing := errors.New("rules not loaded")
	var fail error
	s.AddCheck("nats", func(context.Context) error { return nil })
	s.AddCheck("rules", func(context.Context) error { return fail })
	s.AddCheck("panicky", func(context.Context) error {
		if fail != nil {
			panic("boom")
		}
		return nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	l, err := s.Start(ctx, Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()

	body, code := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: status %d", code)
	}
	for _, want := range []string{"bsodwatch_test_things_total 3", `bsodwatch_build_info{role="test"`, "go_goroutines", "process_", "go_build_info"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	tests := []struct {
		name     string
		fail     error
		wantCode int
		want     Health
	}{
		{"healthy", nil, 200, Health{Status: "ok", Checks: map[string]string{"nats": "ok", "rules": "ok", "panicky": "ok"}}},
		{"failing", failing, 503, Health{Status: "fail", Checks: map[string]string{"nats": "ok", "rules": "rules not loaded", "panicky": "check panicked: boom"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fail = tc.fail
			body, code := get(t, base+"/healthz")
			if code != tc.wantCode {
				t.Errorf("status %d, want %d", code, tc.wantCode)
			}
			var h Health
			if err := json.Unmarshal([]byte(body), &h); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if h.Status != tc.want.Status || len(h.Checks) != len(tc.want.Checks) {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
			for k, v := range tc.want.Checks {
				if h.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, h.Checks[k], v)
				}
			}
		})
	}

	cancel()
	select {
	case err := <-waitC(l):
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after cancel")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestStartTakenPort(t *testing.T) {
	s := New("test", zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := s.Start(ctx, Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, Options{Listen: l.Addr().String()}); err == nil {
		t.Fatal("second listener on the same port: no error")
	}
}

func waitC(l *Listener) <-chan error {
	c := make(chan error, 1)
	go func() { c <- l.Wait() }()
	return c
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
