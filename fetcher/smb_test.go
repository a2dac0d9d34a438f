//go:build unix

package fetcher_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
)

// startSmbd runs a dedicated smbd (foreground, own state) serving the test Samba's ADMIN$
// on a free port, so the test can kill it. pid is its main process (each connection is
// served by a child).
func startSmbd(t *testing.T, e smbEnv) (addr string, kill func(), pid int) {
	t.Helper()
	// scripts/samba.sh start runs as root and installs smbd, so neither can be missing here.
	if os.Getuid() != 0 {
		t.Fatal("a dedicated smbd needs root, as scripts/samba.sh start does")
	}
	smbd, err := exec.LookPath("smbd")
	if err != nil {
		if smbd, err = exec.LookPath("/usr/sbin/smbd"); err != nil {
			t.Fatal("smbd not installed, though BSODWATCH_SMB_ADDR is set")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d, err := os.MkdirTemp("", "bsodwatch-smbd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	for _, s := range []string{"lock", "state", "cache", "run/ncalrpc", "log", "private"} {
		os.MkdirAll(filepath.Join(d, s), 0o755)
	}
	conf := fmt.Sprintf(`[global]
  server role = standalone server
  smb ports = %d
  interfaces = lo
  bind interfaces only = yes
  disable netbios = yes
  private dir = %[2]s/private
  lock directory = %[2]s/lock
  state directory = %[2]s/state
  cache directory = %[2]s/cache
  pid directory = %[2]s/run
  ncalrpc dir = %[2]s/run/ncalrpc
  log file = %[2]s/log/log.%%m
  passdb backend = tdbsam:%[3]s
  map to guest = Never
  server min protocol = SMB2_02
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  force user = %[4]s
[ADMIN$]
  path = %[5]s/admin
  read only = yes
  valid users = %[4]s
`, port, d, e.passdb, e.user, e.root)
	cf := filepath.Join(d, "smb.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(smbd, "-F", "--no-process-group", "--debug-stdout", "-s", cf, "-l", filepath.Join(d, "log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid = cmd.Process.Pid
	var once sync.Once
	kill = func() {
		once.Do(func() {
			for _, c := range children(pid) {
				syscall.Kill(c, syscall.SIGCONT)
				syscall.Kill(c, syscall.SIGKILL)
			}
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(kill)
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, kill, pid
		}
		if i > 200 {
			t.Fatalf("dedicated smbd did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				out = append(out, n)
			}
		}
	}
	return out
}

func TestSambaKilledMidRead(t *testing.T) {
	e := needSamba(t)
	addr, kill, _ := startSmbd(t, e)
	r := newRig(t, t.TempDir())
	name, dir := e.hostDir(t)
	sum := writeRandom(t, filepath.Join(dir, "MEMORY.DMP"), 96<<20, time.Time{})
	o := e.options(e.pass)
	o.MaxRateBytes = 16 << 20 // about 6 s: time to kill the server mid-read
	src, err := smbsource.New(o)
	if err != nil {
		t.Fatal(err)
	}
	inv := &staticInv{hosts: []fetcher.Host{{Name: "victim", Address: addr, Dir: name}}}
	f := r.fetcher(t, o, inv, src)

	killed := make(chan struct{})
	go func() { // kill smbd once the copy is well under way
		defer close(killed)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			for _, p := range tempFiles(t, r.share.Root()) {
				if fi, err := os.Stat(p); err == nil && fi.Size() > 8<<20 {
					kill()
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	rep := sweep(t, f)
	<-killed
	if rep.Failed != 1 || len(rep.Copied) != 0 {
		t.Fatalf("report after the server died mid-read: %+v", rep)
	}
	if n := len(r.jobs(t)); n != 0 {
		t.Fatalf("%d jobs after a failed copy", n)
	}
	if left := tempFiles(t, r.share.Root()); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// the host comes back (the main Samba serves the same files): the dump is copied once
	o.MaxRateBytes = 0
	inv.set(fetcher.Host{Name: "victim", Address: e.addr, Dir: name})
	rep = sweep(t, f)
	if len(rep.Copied) != 1 || rep.Copied[0].SHA256 != sum {
		t.Fatalf("retry: %+v", rep)
	}
	if n := len(r.jobs(t)); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
}

// TestStalledExtraSessionTripsWatchdog freezes (SIGSTOP) only the smbd process serving the
// extra session of a big copy: the copy must fail as a timeout within the stall limit, and
// leave no job and no temporary file behind.
func TestStalledExtraSessionTripsWatchdog(t *testing.T) {
	e := needSamba(t)
	addr, _, pid := startSmbd(t, e)
	r := newRig(t, t.TempDir())
	name, dir := e.hostDir(t)
	writeRandom(t, filepath.Join(dir, "MEMORY.DMP"), 96<<20, time.Time{})
	o := e.options(e.pass)
	o.OpTimeout = 2 * time.Second
	o.ParallelSessions = 2
	o.MaxRateBytes = 16 << 20 // about 6 s: time to freeze a server process mid-read
	src, err := smbsource.New(o)
	if err != nil {
		t.Fatal(err)
	}
	inv := &staticInv{hosts: []fetcher.Host{{Name: "frozen", Address: addr, Dir: name}}}
	f := r.fetcher(t, o, inv, src)

	stopped := make(chan int, 1)
	sweepDone := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-sweepDone:
				return
			default:
			}
			kids := clientChildren(pid)
			started := false
			for _, p := range tempFiles(t, r.share.Root()) {
				if fi, err := os.Stat(p); err == nil && fi.Size() > 8<<20 {
					started = true
				}
			}
			if started && len(kids) >= 2 && sessionsTo(addr) >= 2 {
				newest := kids[0]
				for _, k := range kids[1:] {
					if startTime(k) > startTime(newest) || startTime(k) == startTime(newest) && k > newest {
						newest = k
					}
				}
				syscall.Kill(newest, syscall.SIGSTOP)
				stopped <- sessionsTo(addr)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	rep := sweep(t, f)
	close(sweepDone)
	n, ok := <-stopped
	if !ok {
		t.Fatal("the copy never used a second session (or never got going)")
	}
	t.Logf("%d client connections during the copy", n)
	if rep.Failed != 1 || len(rep.Copied) != 0 || len(rep.Errors) != 1 || rep.Errors[0].Reason != "timeout" {
		t.Fatalf("report after an extra session froze: %+v", rep)
	}
	if n := len(r.jobs(t)); n != 0 {
		t.Fatalf("%d jobs after a failed copy", n)
	}
	if left := tempFiles(t, r.share.Root()); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// sessionsTo counts established TCP connections to addr (IPv4) from this machine: the
// sessions a copy has open.
func sessionsTo(addr string) int {
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0
	}
	want := fmt.Sprintf(":%04X", p)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[2], want) && f[3] == "01" {
			n++
		}
	}
	return n
}

// clientChildren lists the smbd children serving a connection (not smbd-notifyd,
// smbd-cleanupd and the like).
func clientChildren(pid int) []int {
	var out []int
	for _, c := range children(pid) {
		if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c), "comm")); err == nil && !strings.HasPrefix(string(b), "smbd-") {
			out = append(out, c)
		}
	}
	return out
}

// startTime is a process's start time in clock ticks since boot (0 if unknown).
func startTime(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseInt(f[19], 10, 64)
	return v
}
