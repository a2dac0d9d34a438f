package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// messagesWith returns the messages that hold every one of parts.
func messagesWith(ms []string, parts ...string) []string {
	var out []string
	for _, m := range ms {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(m, p)
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// TestRunEventLogFleet: `bsodwatch run` on a local fleet whose host web01 has a System log
// (eventlogtest.CrashHistory) and the minidump its 1001 names (a real 0x7e dump). The blue
// screen that left no dump is posted once, as a verdict that says why; the dump's verdict
// says what the log said of it (dump saved, report id); the power loss is recorded, not
// posted. After a restart nothing is posted again.
func TestRunEventLogFleet(t *testing.T) {
	dump, err := os.ReadFile(filepath.Join(sharedtest.Dir(t, "dumps"), "kernel", "triage-x64-win10-19041-bc1000007e.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	data := filepath.Join(work, "data")
	host := filepath.Join(data, "fleet", "web01")
	for _, d := range []string{filepath.Join(host, "System32", "winevt", "Logs"), filepath.Join(host, "Minidump")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(host, "System32", "winevt", "Logs", "System.evtx"), evt.CrashHistory(), 0o644); err != nil {
		t.Fatal(err)
	}
	mini := filepath.Join(host, "Minidump", "050124-12345-01.dmp")
	if err := os.WriteFile(mini, dump, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2024, 5, 1, 8, 14, 0, 0, time.UTC)
	os.Chtimes(mini, old, old)
	chat := newChatSink(t, 0)
	cfg := filepath.Join(work, "bsodwatch.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
fetcher:
  interval: 1s
  stable_after: 200ms
  eventlog: {interval: 1s}
analyzer:
  engine: native
notifier:
  targets:
    - {name: chat, type: slack, url_env: E2E_CHAT_URL, no_grouping: true}
  flush_interval: 1s
metrics:
  listen: ""
`, data)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newProc(t, "run", []string{"E2E_CHAT_URL=" + chat.srv.URL}, "run", "--config", cfg)
	p.start(t)
	noDump := []string{"*web01*: DPC_WATCHDOG_VIOLATION (0x133) at 03:12 UTC; no dump was saved: page file too small (volmgr 49)", "*System log:* no dump saved, record 205"}
	withDump := []string{"SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (0x7e) in amdppm.sys", "*System log:* dump saved, report cdc03408-1c74-42d1-ad9c-caae62d7edc3, record 310"}
	ms := chat.waitMessages(t, 120*time.Second, "the no-dump verdict and the dump's", func(ms []string) bool {
		return len(messagesWith(ms, noDump...)) > 0 && len(messagesWith(ms, withDump...)) > 0
	})
	// The reboot's verdict is stored; it makes no crash loop (two crashes in 24 hours by
	// the crash times), so it is not posted.
	waitLog(t, p, regexp.MustCompile(`"kind":"unexpected_reboot"[^\n]*crash from the event log queued`), 1, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []byte
	for ctx.Err() == nil {
		out, err = exec.CommandContext(ctx, bin.bsodwatch, "results", "--data", data, "--json", "--host", "web01").CombinedOutput()
		if err == nil && strings.Count(string(out), "\n") >= 3 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(string(out), `"kind":"reboot"`) || !strings.Contains(string(out), `"no_dump":true`) {
		t.Fatalf("results: %v\n%s", err, out)
	}
	time.Sleep(3 * time.Second) // sweeps go on: nothing more comes
	ms = chat.messages()
	if len(ms) != 2 || len(messagesWith(ms, noDump...)) != 1 || len(messagesWith(ms, withDump...)) != 1 {
		t.Fatalf("%d messages, want the two verdicts once each:\n%s", len(ms), strings.Join(ms, "\n---\n"))
	}
	if len(messagesWith(ms, "Unexpected reboot")) != 0 {
		t.Errorf("the power loss was posted")
	}
	// Stopped as an operator stops it, run exits 130. Under Wine, which cannot send the
	// Ctrl-Break, it is killed instead: the restart below must hold up after that too.
	if code := p.stop(60 * time.Second); p.stopErr == nil && code != 130 {
		t.Errorf("exit %d after the stop request, want 130", code)
	}

	// A restart reads the log from its mark: nothing is queued or posted again.
	p.start(t)
	waitLog(t, p, regexp.MustCompile(`=== start 2 ===(?s:.*)"message":"sweep done"(?s:.*)"message":"sweep done"(?s:.*)"message":"sweep done"`), 1, 60*time.Second)
	time.Sleep(2 * time.Second)
	if n := strings.Count(p.log(), "crash from the event log queued"); n != 2 {
		t.Errorf("crashes queued %d times over two runs, want 2 (the 0x133 and the power loss, once)", n)
	}
	if ms := chat.messages(); len(ms) != 2 {
		t.Errorf("%d messages after the restart, want still 2", len(ms))
	}
	p.stop(60 * time.Second)
}

// TestPipelineEventLogSMB: a host on the test Samba with only a System log (no dump at
// all): its three crashes come through fetcher, analyzer and notifier over SMB. The blue
// screen without a dump and the one whose dump is gone are posted once each; the power loss
// after them is the host's third crash in a day, a crash loop, so it is posted too.
func TestPipelineEventLogSMB(t *testing.T) {
	smb := needSMB(t)
	f := newFleet(t, smb, "e2e-evlog")
	f.addLog(t, "web01", evt.CrashHistory())
	chat := newChatSink(t, 0)
	work := t.TempDir()
	cfg := pipelineConfig{
		dataDir: filepath.Join(work, "data"), inventory: f.inventory(t, work),
		engine: "native", shareSMBDir: f.id, shareLocal: f.shareDir, smb: smb, slots: 1,
	}.write(t, work)
	p := newProc(t, "run", []string{"E2E_CHAT_URL=" + chat.srv.URL}, "run", "--config", cfg)
	p.start(t)
	want := [][]string{
		{"DPC_WATCHDOG_VIOLATION (0x133) at 03:12 UTC; no dump was saved: page file too small (volmgr 49)"},
		{`SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (0x7e) at 08:12 UTC; a dump was saved to C:\WINDOWS\Minidump\050124-12345-01.dmp but was gone`},
		{"Unexpected reboot at 11:12 UTC without a bug check", "*Crash loop*"},
	}
	chat.waitMessages(t, 120*time.Second, "three messages", func(ms []string) bool { return len(ms) >= 3 })
	time.Sleep(3 * time.Second)
	ms := chat.messages()
	for _, w := range want {
		if n := len(messagesWith(ms, w...)); n != 1 {
			t.Errorf("%d messages with %q, want 1", n, w)
		}
	}
	if len(ms) != 3 {
		t.Errorf("%d messages, want 3:\n%s", len(ms), strings.Join(ms, "\n---\n"))
	}
	p.stop(60 * time.Second)
}
