//go:build linux

package fetcher_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
)

// encryptedEnv is needSamba plus the encryption-required instance of scripts/samba.sh.
func encryptedEnv(t *testing.T) smbEnv {
	t.Helper()
	e := needSamba(t)
	if e.encryptedAddr == "" || e.signedAddr == "" || e.confDir == "" {
		t.Fatal("BSODWATCH_SMB_ENCRYPTED_ADDR, _SIGNED_ADDR or _CONF_DIR is not set: source the env.sh of scripts/samba.sh start")
	}
	return e
}

// TestSMBEncryptionPolicy copies from a host that requires encryption under both policies,
// and checks that "required" refuses the hosts that only sign or do neither, naming the
// reason, while "auto" copies from them.
func TestSMBEncryptionPolicy(t *testing.T) {
	e := encryptedEnv(t)
	unencrypted := func(addr string) string {
		return addr + ": session not encrypted, and encryption is required (the host must ask for it: on Windows Set-SmbServerConfiguration -EncryptData $true)"
	}
	cases := []struct {
		name, addr, policy string
		wantErr            string // the host's error; "" = both dumps copied
	}{
		{"encrypting host, auto", e.encryptedAddr, "auto", ""},
		{"encrypting host, required", e.encryptedAddr, "required", ""},
		{"signing host, required", e.signedAddr, "required", unencrypted(e.signedAddr)},
		{"default host, required", e.addr, "required", unencrypted(e.addr)},
		{"signing host, auto", e.signedAddr, "auto", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, t.TempDir())
			name, dir := e.hostDir(t)
			mt := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
			memSum := writeRandom(t, filepath.Join(dir, "MEMORY.DMP"), 80<<20, mt) // big enough for parallel sessions
			miniSum := writeRandom(t, filepath.Join(dir, "Minidump", "020325-1-01.dmp"), 256<<10, mt)
			o := e.options(e.pass)
			o.Encryption = tc.policy
			src, err := smbsource.New(o)
			if err != nil {
				t.Fatal(err)
			}
			f := r.fetcher(t, o, &staticInv{hosts: []fetcher.Host{{Name: "win-01", Address: tc.addr, Dir: name}}}, src)
			rep := sweep(t, f)
			if tc.wantErr != "" {
				if rep.HostsFailed != 1 || len(rep.Errors) != 1 || len(rep.Copied) != 0 {
					t.Fatalf("report %+v", rep)
				}
				if got := rep.Errors[0]; got.Reason != "unencrypted" || got.Error != tc.wantErr {
					t.Fatalf("host error %q (reason %s), want %q (reason unencrypted)", got.Error, got.Reason, tc.wantErr)
				}
				if n := len(r.jobs(t)); n != 0 {
					t.Fatalf("%d jobs from a refused host", n)
				}
				return
			}
			if !rep.OK() || len(rep.Copied) != 2 {
				t.Fatalf("report %+v", rep)
			}
			r.checkShare(t, map[string]string{"win-01/20250203T040506Z-MEMORY.DMP": memSum, "win-01/20250203T040506Z-020325-1-01.dmp": miniSum})
		})
	}
}

// TestSMBEncryptionAsTheServerSeesIt holds a session open to each test Samba instance and
// asks that smbd (smbstatus) what it negotiated: the "required" policy must accept exactly
// the sessions the server encrypts.
func TestSMBEncryptionAsTheServerSeesIt(t *testing.T) {
	e := encryptedEnv(t)
	smbstatus, err := exec.LookPath("smbstatus")
	if err != nil {
		t.Fatal("smbstatus not installed, though the test Samba runs")
	}
	cases := []struct {
		instance, addr      string
		encryption, signing string // smbstatus's columns
	}{
		{"encrypted", e.encryptedAddr, "AES-128-GCM", "partial(AES-128-CMAC)"},
		{"signed", e.signedAddr, "-", "AES-128-CMAC"},
		{"plain", e.addr, "-", "partial(AES-128-CMAC)"},
	}
	for _, tc := range cases {
		t.Run(tc.instance, func(t *testing.T) {
			name, _ := e.hostDir(t)
			h := fetcher.Host{Name: "win-01", Address: tc.addr, Dir: name}
			ctx := context.Background()
			for _, policy := range []string{fetcher.EncryptionAuto, fetcher.EncryptionRequired} {
				o := e.options(e.pass)
				o.Encryption = policy
				src, err := smbsource.New(o)
				if err != nil {
					t.Fatal(err)
				}
				before := ourPortsTo(t, tc.addr)
				sess, err := src.Open(ctx, h)
				encrypted := tc.encryption != "-"
				if policy == fetcher.EncryptionRequired {
					if encrypted != (err == nil) {
						t.Fatalf("policy required: open error %v, though the server encrypts: %v", err, encrypted)
					}
				} else if err != nil {
					t.Fatalf("policy auto: %v", err)
				}
				if err != nil {
					continue
				}
				port := newPort(t, before, ourPortsTo(t, tc.addr))
				out, err := exec.Command(smbstatus, "-b", "-s", filepath.Join(e.confDir, tc.instance, "smb.conf")).CombinedOutput()
				if err != nil {
					t.Fatalf("smbstatus: %v\n%s", err, out)
				}
				row := ""
				for _, l := range strings.Split(string(out), "\n") {
					if strings.Contains(l, fmt.Sprintf("127.0.0.1:%d)", port)) {
						row = l
					}
				}
				f := strings.Fields(row)
				if len(f) < 3 {
					t.Fatalf("smbstatus lists no session from port %d:\n%s", port, out)
				}
				if enc, sig := f[len(f)-2], f[len(f)-1]; enc != tc.encryption || sig != tc.signing || f[len(f)-3] != "SMB3_11" {
					t.Errorf("policy %s: smbstatus %q; want SMB3_11, encryption %s, signing %s", policy, row, tc.encryption, tc.signing)
				}
				if _, err := sess.ReadDir(ctx, ""); err != nil {
					t.Errorf("policy %s: list the share: %v", policy, err)
				}
				sess.Close()
			}
		})
	}
}

// ourPortsTo lists the local ports of this process's TCP connections to addr.
func ourPortsTo(t *testing.T, addr string) map[int]bool {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || !inodes[f[9]] || !strings.HasSuffix(f[2], fmt.Sprintf(":%04X", port)) {
			continue
		}
		if i := strings.LastIndexByte(f[1], ':'); i >= 0 {
			if lp, err := strconv.ParseInt(f[1][i+1:], 16, 32); err == nil {
				out[int(lp)] = true
			}
		}
	}
	return out
}

// newPort is the one port in after that is not in before.
func newPort(t *testing.T, before, after map[int]bool) int {
	t.Helper()
	var fresh []int
	for p := range after {
		if !before[p] {
			fresh = append(fresh, p)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("new connections from ports %v, want exactly one", fresh)
	}
	return fresh[0]
}
