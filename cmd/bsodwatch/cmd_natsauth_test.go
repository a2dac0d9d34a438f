package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

// TestCLICommandsReachAnAuthenticatedCluster: results, submit and reanalyze read --config
// and reach a NATS server that wants a user and password (from the environment, never
// printed), create the streams with the configured retention, and say a wrong password in
// one line.
func TestCLICommandsReachAnAuthenticatedCluster(t *testing.T) {
	const pw = "s3cret-nats-pw"
	srv := embeddedtest.Server(t, func(o *server.Options) {
		o.JetStream, o.StoreDir, o.Username, o.Password = true, t.TempDir(), "bsw", pw
	})
	dir := t.TempDir()
	share := filepath.Join(dir, "share")
	os.MkdirAll(share, 0o777)
	cfg := filepath.Join(dir, "bsodwatch.yaml")
	os.WriteFile(cfg, []byte("nats:\n  urls: ["+srv.ClientURL()+"]\n  user: bsw\n  password_env: BSW_TEST_NATS_PW\n"+
		"history:\n  retention: 720h\nshare:\n  dir: "+share+"\n"), 0o644)
	run := func(password string, cmd func(context.Context, *env, []string) int, args ...string) (int, string, string) {
		t.Setenv("BSW_TEST_NATS_PW", password)
		e, stdout, stderr := histEnv()
		e.Log = zerolog.New(stderr)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code := cmd(ctx, e, append([]string{"--config", cfg}, args...))
		return code, stdout.String(), stderr.String()
	}
	if code, _, errs := run(pw, cmdResults, "--json"); code != exitOK {
		t.Fatalf("results: exit %d: %s", code, errs)
	}
	dump := filepath.Join(sharedtest.Dir(t, "dumps"), "kernel", "triage-x64-win10-19041-bc1000007e.dmp")
	if code, _, errs := run(pw, cmdSubmit, "--share", share, "--host", "pc01", dump); code != exitOK {
		t.Fatalf("submit: exit %d: %s", code, errs)
	}
	if code, _, errs := run(pw, cmdReanalyze, "--dry-run"); code != exitOK {
		t.Fatalf("reanalyze: exit %d: %s", code, errs)
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("bsw", pw))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), pipeline.ResultsStream)
	if err != nil {
		t.Fatalf("results stream not created: %v", err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != 720*time.Hour {
		t.Errorf("results stream kept %v, want history.retention 720h", got)
	}
	jobs, err := js.Stream(context.Background(), pipeline.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := jobs.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("%d jobs queued by submit, want 1", n)
	}
	code, out, errs := run("wrong", cmdResults)
	if code == exitOK || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "refused the user, password") {
		t.Errorf("wrong password: exit %d, stdout %q, stderr %q; want one line saying so", code, out, errs)
	}
	if strings.Contains(errs, pw) || strings.Contains(errs, "wrong") {
		t.Errorf("a password reached the output: %q", errs)
	}
}
