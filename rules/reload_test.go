package rules

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/testlog"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// value reads a counter's or gauge's current value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func rulesFile(id string) string {
	return "rules:\n  - id: " + id + "\n    title: t\n    severity: low\n    match: {bugcheck_code: 0x27}\n"
}

func TestReloader(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": rulesFile("first")})
	var logs testlog.Buffer
	reg := prometheus.NewRegistry()
	r, err := NewReloader(dir, zerolog.New(&logs), reg)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Analysis: &analysis.Analysis{BugcheckCode: "0x27"}}
	ids := func() string {
		var s []string
		for _, m := range r.Current().Match(in) {
			s = append(s, m.ID)
		}
		return strings.Join(s, ",")
	}
	if ids() != "first" || value(r.loaded) != 1 || value(r.lastOK) != 1 {
		t.Fatalf("initial: %q", ids())
	}

	// A good edit replaces the set.
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(rulesFile("second")), 0o644)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if ids() != "first,second" || value(r.loaded) != 2 {
		t.Fatalf("after good edit: %q", ids())
	}
	good := r.Current()

	// A bad edit is refused with its position, logged, counted; the last good set stays.
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("rules:\n  - id: second\n    titel: t\n"), 0o644)
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), "b.yaml:3:5: unknown key \"titel\"") {
		t.Fatalf("bad edit: %v", err)
	}
	if r.Current() != good || ids() != "first,second" {
		t.Errorf("bad edit replaced the set")
	}
	if value(r.failures) != 1 || value(r.lastOK) != 0 || value(r.loaded) != 2 {
		t.Errorf("metrics after bad edit: failures %v lastOK %v loaded %v",
			value(r.failures), value(r.lastOK), value(r.loaded))
	}
	// Reload returns the error and leaves logging to its caller, once.
	if strings.Contains(logs.String(), "refused") {
		t.Errorf("Reload logged the error it returned: %s", logs.String())
	}
	if st := r.Status(); st.LastError == nil || st.Version != good.Version() || st.Rules != 2 {
		t.Errorf("status after bad edit: %+v", st)
	}
	r.LogRefused(err)
	if !strings.Contains(logs.String(), "rule reload refused") || !strings.Contains(logs.String(), `b.yaml:3:5`) {
		t.Errorf("log: %s", logs.String())
	}
	mfs, err := reg.Gather()
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if err != nil || strings.Join(names, " ") != "bsodwatch_rules_last_reload_successful bsodwatch_rules_loaded bsodwatch_rules_reload_failures_total" {
		t.Errorf("registered metrics: %v %v", names, err)
	}
}

// writeAtomic replaces a file in one step, as careful editors do, so that a slow machine
// cannot show the watcher an empty file twice in a row.
func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// On Windows a file cannot be replaced while another process reads it (the reloader
	// polls every few milliseconds here): the rename fails with "Access denied", and a writer
	// tries again, as editors do. Elsewhere the first rename must succeed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Rename(tmp, path)
		if err == nil {
			return
		}
		if runtime.GOOS != "windows" || !errors.Is(err, fs.ErrPermission) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReloaderWatch(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": rulesFile("first")})
	var logs testlog.Buffer
	r, err := NewReloader(dir, zerolog.New(&logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Watch(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log: %s", what, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	writeAtomic(t, filepath.Join(dir, "a.yaml"), []byte(rulesFile("edited")))
	waitFor("the edit to load", func() bool { return r.Current().Rules()[0].ID == "edited" })

	writeAtomic(t, filepath.Join(dir, "a.yaml"), []byte("rules: [oops"))
	waitFor("the bad edit to be counted", func() bool { return value(r.failures) == 1 })
	if r.Current().Rules()[0].ID != "edited" {
		t.Error("bad edit replaced the set")
	}
	// The same bad content is reported once, not on every poll.
	time.Sleep(100 * time.Millisecond)
	if f := value(r.failures); f != 1 {
		t.Errorf("bad edit counted %v times", f)
	}
	writeAtomic(t, filepath.Join(dir, "a.yaml"), []byte(rulesFile("fixed")))
	waitFor("the fix to load", func() bool { return r.Current().Rules()[0].ID == "fixed" && value(r.lastOK) == 1 })
}

func TestReloaderShippedAndFirstLoad(t *testing.T) {
	r, err := NewReloader("", zerolog.Nop(), nil)
	if err != nil {
		t.Fatalf("shipped library: %v", err)
	}
	if len(r.Current().Rules()) < 16 {
		t.Errorf("shipped library has %d rules", len(r.Current().Rules()))
	}
	// Watching the immutable library returns when the context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Watch(ctx, time.Millisecond)

	bad := writeFiles(t, map[string]string{"a.yaml": "rules: []\n"})
	if _, err := NewReloader(bad, zerolog.Nop(), nil); err == nil || !strings.Contains(err.Error(), "a.yaml:1:8") {
		t.Errorf("bad first load: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := NewReloader("", zerolog.Nop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReloader("", zerolog.Nop(), reg); err == nil {
		t.Error("registering the metrics twice went unnoticed")
	}
}
