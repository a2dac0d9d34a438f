package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scmEnv, when set, lets TestAnalyzerService install a service (scripts/test-windows.sh sets
// it in its throw-away Wine prefix).
const scmEnv = "BSODWATCH_TEST_SCM"

// TestAnalyzerService runs the analyzer as a Windows service the way the install script
// does: `analyze service install` with worker flags, `start`, the worker answering /healthz
// while the service manager runs it, `stop`, `uninstall`. Where the service manager lacks a
// setting (Wine's: delayed auto-start), install must say so and still succeed.
func TestAnalyzerService(t *testing.T) {
	if os.Getenv(scmEnv) == "" {
		t.Skipf("installs a Windows service: set %s=1 in an elevated session to run it (make test-windows does, in its own Wine prefix)", scmEnv)
	}
	work := t.TempDir()
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	nats := newProc(t, "nats", nil, "run", "--roles", "none", "--data", filepath.Join(work, "nats"), "--nats.listen", natsAddr, "--metrics", "")
	nats.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitTCP(ctx, t, natsAddr)

	name := fmt.Sprintf("bsodwatch-e2e-%d", os.Getpid())
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	share := filepath.Join(work, "share dir") // a space, as in C:\Program Files
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	service := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(bin.bsodwatch, append(append([]string{"analyze", "service"}, args...), "--service.name", name)...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	t.Cleanup(func() { service("uninstall") })

	code, out := service("install", "--nats", "nats://"+natsAddr, "--share", share, "--engine", "native", "--metrics", metrics)
	if code != 0 {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, "warning:") {
			t.Logf("install said: %s", l)
			if !strings.Contains(l, "not set") && !strings.Contains(l, "cannot be read back") {
				t.Errorf("install warning that names no missing setting: %s", l)
			}
		}
	}
	if !strings.Contains(out, "service "+name+": install done") {
		t.Errorf("install output lacks the done line:\n%s", out)
	}
	if code, out := service("install", "--nats", "nats://"+natsAddr, "--share", share); code == 0 || !strings.Contains(out, "already exists") {
		t.Errorf("a second install: exit %d\n%s", code, out)
	}

	if code, out := service("start"); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	healthy := func() bool {
		resp, err := http.Get("http://" + metrics + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for !healthy() {
		if ctx.Err() != nil {
			t.Fatalf("the worker run by the service manager never answered /healthz on %s", metrics)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if code, out := service("stop"); code != 0 {
		t.Fatalf("stop: exit %d\n%s", code, out)
	}
	if healthy() {
		t.Error("/healthz still answers after the service stopped")
	}
	if code, out := service("uninstall"); code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", code, out)
	}
	if code, out := service("start"); code == 0 || !strings.Contains(out, "not installed") {
		t.Errorf("start after uninstall: exit %d\n%s", code, out)
	}
}
