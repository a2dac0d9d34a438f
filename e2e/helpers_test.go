package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatSink is a Slack-compatible incoming webhook that records every message.
type chatSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	msg []string // each message's text, all strings of the payload joined
}

// newChatSink starts the endpoint; each post takes delay before it is accepted, as a real
// chat service takes its time.
func newChatSink(t testing.TB, delay time.Duration) *chatSink {
	c := &chatSink{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var payload any
		if err != nil || json.Unmarshal(b, &payload) != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return // the poster gave up (was killed): the message was not accepted
		}
		var parts []string
		collectStrings(payload, &parts)
		c.mu.Lock()
		c.msg = append(c.msg, strings.Join(parts, "\n"))
		c.mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func collectStrings(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			collectStrings(e, out)
		}
	case map[string]any:
		for _, e := range x {
			collectStrings(e, out)
		}
	}
}

func (c *chatSink) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msg...)
}

// waitMessages waits until cond holds for the messages or the time is up.
func (c *chatSink) waitMessages(t testing.TB, d time.Duration, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ms := c.messages()
		if cond(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v (%d messages)", what, d, len(ms))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// smbEnv is the test Samba that scripts/samba.sh starts.
type smbEnv struct {
	host       string
	port       int
	user, pass string
	root       string // local directory holding the shares (admin, dumps)
}

func needSMB(t testing.TB) smbEnv {
	t.Helper()
	addr, user := os.Getenv("BSODWATCH_SMB_ADDR"), os.Getenv("BSODWATCH_SMB_USER")
	pass, root := os.Getenv("BSODWATCH_SMB_PASS"), os.Getenv("BSODWATCH_SMB_ROOT")
	if addr == "" {
		t.Skip("BSODWATCH_SMB_ADDR unset: start Samba with scripts/samba.sh start and source its env.sh (make test does)")
	}
	// Under make test the address is set: a half-configured Samba must fail, not skip.
	if user == "" || pass == "" || root == "" {
		t.Fatal("BSODWATCH_SMB_ADDR is set but BSODWATCH_SMB_USER/PASS/ROOT are not: source the env.sh of scripts/samba.sh")
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("BSODWATCH_SMB_ADDR %q: %v", addr, err)
	}
	port, _ := strconv.Atoi(p)
	return smbEnv{host: h, port: port, user: user, pass: pass, root: root}
}

// fleet is a set of hosts on the test Samba: each a folder inside ADMIN$ acting as that
// host's ADMIN$ root, plus a private folder on the dumps share as the destination.
type fleet struct {
	smb      smbEnv
	id       string
	adminDir string // local path of this test's folder in ADMIN$
	shareDir string // local path of this test's folder on the dumps share
	hosts    []string
}

func newFleet(t testing.TB, smb smbEnv, name string) *fleet {
	t.Helper()
	id := name + "-" + randHex(4)
	f := &fleet{smb: smb, id: id, adminDir: filepath.Join(smb.root, "admin", id), shareDir: filepath.Join(smb.root, "dumps", id)}
	for _, d := range []string{f.adminDir, f.shareDir} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777) // smbd writes as the SMB user
		t.Cleanup(func() { os.RemoveAll(d) })
	}
	return f
}

// addDump writes a dump file for host (creating the host) and returns its local path.
func (f *fleet) addDump(t testing.TB, host, name string, content []byte) string {
	t.Helper()
	dir := filepath.Join(f.adminDir, host, "Minidump")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range f.hosts {
		found = found || h == host
	}
	if !found {
		f.hosts = append(f.hosts, host)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	// Dumps are older than the stability window, as real ones are when a sweep finds them.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	return p
}

// addLog puts a System event log where Windows keeps it below the host's ADMIN$ root.
func (f *fleet) addLog(t testing.TB, host string, content []byte) {
	t.Helper()
	dir := filepath.Join(f.adminDir, host, "System32", "winevt", "Logs")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.hosts, host) {
		f.hosts = append(f.hosts, host)
	}
	if err := os.WriteFile(filepath.Join(dir, "System.evtx"), content, 0o644); err != nil {
		t.Fatal(err)
	}
}

// inventory writes the hosts' inventory file.
func (f *fleet) inventory(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range f.hosts {
		fmt.Fprintf(&b, "  - {name: %s, address: %s, port: %d, dir: %s/%s}\n", h, f.smb.host, f.smb.port, f.id, h)
	}
	p := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pipelineConfig is the YAML of one test pipeline. Secrets come from the environment.
type pipelineConfig struct {
	dataDir, inventory, natsURL string
	engine, cdbPath             string
	shareSMBDir, shareLocal     string
	smb                         smbEnv
	// stableAfter is the fetcher's stability wait (default 200ms); the fetcher waits it
	// once per dump, one dump after another on a host.
	stableAfter time.Duration
	// slots is the analyzer's (default 2).
	slots int
	// metricsListen and webConfig serve the console (default: no listener).
	metricsListen, webConfig string
}

func (c pipelineConfig) write(t testing.TB, dir string) string {
	t.Helper()
	if c.stableAfter == 0 {
		c.stableAfter = 200 * time.Millisecond
	}
	if c.slots == 0 {
		c.slots = 2
	}
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\n", yamlQuote(c.dataDir))
	if c.natsURL != "" {
		fmt.Fprintf(&b, "nats:\n  urls: [%s]\n", c.natsURL)
	}
	fmt.Fprintf(&b, `fetcher:
  inventory: %s
  interval: 1s
  stable_after: %s
  op_timeout: 10s
  credentials:
    default: {user: %s, password_env: BSODWATCH_SMB_PASS}
share:
  smb: {addr: "%s:%d", share: dumps, dir: %s, user: %s, password_env: BSODWATCH_SMB_PASS, op_timeout: 10s}
analyzer:
  engine: %s
  cdb_path: %s
  share_dir: %s
  ack_wait: 4s
  backoff: [500ms]
  slots: %d
notifier:
  targets:
    - {name: chat, type: slack, url_env: E2E_CHAT_URL, no_grouping: true}
  ack_wait: 4s
  flush_interval: 1s
  retry: {initial: 100ms, max: 1s}
`, yamlQuote(c.inventory), c.stableAfter, c.smb.user, c.smb.host, c.smb.port, c.shareSMBDir, c.smb.user, c.engine,
		yamlQuote(c.cdbPath), yamlQuote(c.shareLocal), c.slots)
	if c.metricsListen == "" {
		b.WriteString("metrics:\n  listen: \"\"\n")
	} else {
		fmt.Fprintf(&b, "metrics:\n  listen: %s\n  web_config_file: %s\n", c.metricsListen, yamlQuote(c.webConfig))
	}
	p := filepath.Join(dir, "bsodwatch.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// yamlQuote quotes s for YAML so that a Windows path's backslashes stay as they are (in a
// double-quoted scalar they would be escapes).
func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// proc is one bsodwatch process; it can be killed and started again.
type proc struct {
	name string
	args []string
	env  []string
	logs string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
	runs int
	last *os.ProcessState // of the last run that ended
	// stopErr says why the last stop could not ask the process to stop (nil: it could).
	stopErr error
}

func newProc(t testing.TB, name string, env []string, args ...string) *proc {
	p := &proc{name: name, args: args, env: env, logs: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.logs)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- %s log (tail) ---\n%s", p.name, b)
		}
	})
	return p
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	lf, err := os.OpenFile(p.logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.runs++
	fmt.Fprintf(lf, "=== start %d ===\n", p.runs)
	cmd := exec.Command(bin.bsodwatch, append([]string{"--log.format", "json", "--log.level", "info"}, p.args...)...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = stoppable()
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); lf.Close() }()
	p.cmd, p.done = cmd, done
}

// kill ends the process at once (SIGKILL; on Windows TerminateProcess, see killNow) and
// waits; a no-op when the process is not running.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	killNow(p.cmd.Process)
	<-p.done
	p.cmd = nil
}

// stop asks the process to stop as an operator would (SIGTERM; Ctrl-Break on Windows) and
// returns its exit code: -1 when it had to be killed, with the reason in p.stopErr when the
// request could not even be sent.
func (p *proc) stop(d time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return -1
	}
	p.stopErr = interrupt(p.cmd.Process)
	wait := time.After(d)
	if p.stopErr != nil {
		wait = time.After(0)
	}
	select {
	case <-p.done:
	case <-wait:
		killNow(p.cmd.Process)
		<-p.done
		p.cmd = nil
		return -1
	}
	code := p.cmd.ProcessState.ExitCode()
	p.last = p.cmd.ProcessState
	p.cmd = nil
	return code
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logs)
	return string(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sha256File(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shareFiles lists the dumps on the share (relative path -> sha256) and the leftover
// temporary files of interrupted copies.
func shareFiles(t testing.TB, dir string) (files map[string]string, temps []string) {
	t.Helper()
	files = map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.Contains(d.Name(), ".bsodwatch-tmp") {
			temps = append(temps, rel)
			return nil
		}
		files[filepath.ToSlash(rel)] = sha256File(t, p)
		return nil
	})
	return files, temps
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitTCP waits until something listens on addr.
func waitTCP(ctx context.Context, t testing.TB, addr string) {
	t.Helper()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nothing listens on %s: %v", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitLog polls the process log until re matches count times, or fails.
func waitLog(t *testing.T, p *proc, re *regexp.Regexp, count int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(re.FindAllString(p.log(), -1)) < count {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q not seen %d times within %v; log:\n%s", p.name, re, count, d, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
