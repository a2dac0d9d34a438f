package fetcher_test

// SMB tests against the test Samba that run on every OS (under Wine too).

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
)

// smbEnv is the test Samba written by scripts/samba.sh (sourced by scripts/test.sh).
type smbEnv struct{ addr, signedAddr, encryptedAddr, user, pass, root, passdb, confDir string }

func needSamba(t *testing.T) smbEnv {
	t.Helper()
	e := smbEnv{
		addr: os.Getenv("BSODWATCH_SMB_ADDR"), signedAddr: os.Getenv("BSODWATCH_SMB_SIGNED_ADDR"),
		encryptedAddr: os.Getenv("BSODWATCH_SMB_ENCRYPTED_ADDR"), user: os.Getenv("BSODWATCH_SMB_USER"),
		pass: os.Getenv("BSODWATCH_SMB_PASS"), root: os.Getenv("BSODWATCH_SMB_ROOT"),
		passdb: os.Getenv("BSODWATCH_SMB_PASSDB"), confDir: os.Getenv("BSODWATCH_SMB_CONF_DIR"),
	}
	if e.addr == "" {
		t.Skip("BSODWATCH_SMB_* not set: run scripts/samba.sh start and source $SMB_ROOT/env.sh (make test does)")
	}
	// Under make test the address is set: a half-written environment is a failure, not a skip.
	if e.user == "" || e.root == "" || e.passdb == "" {
		t.Fatal("BSODWATCH_SMB_ADDR is set but BSODWATCH_SMB_USER, _ROOT or _PASSDB is not: source the env.sh of scripts/samba.sh start")
	}
	return e
}

// hostDir makes a fresh folder in ADMIN$ that acts as one host's share root.
func (e smbEnv) hostDir(t *testing.T) (name, dir string) {
	t.Helper()
	name = fmt.Sprintf("t%d-%s", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "_"))
	dir = filepath.Join(e.root, "admin", name)
	if err := os.MkdirAll(filepath.Join(dir, "Minidump"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	os.Chmod(filepath.Join(dir, "Minidump"), 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return name, dir
}

func (e smbEnv) options(pass string) fetcher.Options {
	os.Setenv("BSODWATCH_TEST_SMB_PASS", pass)
	return fetcher.Options{
		Credentials: map[string]fetcher.Credential{"default": {User: `WORKGROUP\` + e.user, PasswordEnv: "BSODWATCH_TEST_SMB_PASS"}},
		StableAfter: 50 * time.Millisecond,
		OpTimeout:   20 * time.Second,
	}
}

func TestSMBNewDumps(t *testing.T) {
	e := needSamba(t)
	cases := []struct {
		name    string
		addr    string
		require bool
	}{
		{"default", e.addr, false},
		{"signing required by server", e.signedAddr, false},
		{"signing required by both", e.signedAddr, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.addr == "" {
				t.Fatal("BSODWATCH_SMB_SIGNED_ADDR is not set")
			}
			r := newRig(t, t.TempDir())
			name, dir := e.hostDir(t)
			mt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			memSum := writeRandom(t, filepath.Join(dir, "MEMORY.DMP"), 40<<20, mt) // > 16 MiB: the server-side-copy trap size
			miniSum := writeRandom(t, filepath.Join(dir, "Minidump", "010225-1-01.dmp"), 256<<10, mt)
			o := e.options(e.pass)
			o.RequireSigning = tc.require
			src, err := smbsource.New(o)
			if err != nil {
				t.Fatal(err)
			}
			inv := &staticInv{hosts: []fetcher.Host{{Name: "win-01", Address: tc.addr, Dir: name, Tags: []string{"lab"}}}}
			f := r.fetcher(t, o, inv, src)
			rep := sweep(t, f)
			if !rep.OK() || len(rep.Copied) != 2 {
				t.Fatalf("report %+v", rep)
			}
			r.checkShare(t, map[string]string{"win-01/20250102T030405Z-MEMORY.DMP": memSum, "win-01/20250102T030405Z-010225-1-01.dmp": miniSum})
			jobs := r.jobs(t)
			if len(jobs) != 2 {
				t.Fatalf("%d jobs", len(jobs))
			}
			for _, j := range jobs {
				if !strings.HasPrefix(j.SourcePath, `ADMIN$\`+name+`\`) || len(j.HostTags) != 1 {
					t.Errorf("job %+v", j)
				}
			}
			rep = sweep(t, f)
			if rep.BytesRead != 0 || rep.Unchanged != 2 || len(rep.Copied) != 0 {
				t.Fatalf("unchanged sweep read %d dump bytes: %+v", rep.BytesRead, rep)
			}
		})
	}
}

func TestSMBFailingHostsAreReportedOnceAndDoNotHoldUpOthers(t *testing.T) {
	e := needSamba(t)
	r := newRig(t, t.TempDir())
	name, dir := e.hostDir(t)
	sum := writeRandom(t, filepath.Join(dir, "MEMORY.DMP"), 1<<20, time.Time{})

	// a closed port
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	// a server that accepts and never answers
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	const badPass = "Wrong-Secret-Pass-77"
	o := e.options(e.pass)
	o.OpTimeout = 2 * time.Second
	o.Credentials["bad"] = fetcher.Credential{User: e.user, Password: badPass}
	src, err := smbsource.New(o)
	if err != nil {
		t.Fatal(err)
	}
	inv := &staticInv{hosts: []fetcher.Host{
		{Name: "down", Address: closed},
		{Name: "silent", Address: silent.Addr().String()},
		{Name: "badpass", Address: e.addr, Credentials: "bad", Dir: name},
		{Name: "good", Address: e.addr, Dir: name},
	}}
	f := r.fetcher(t, o, inv, src)
	for i := 0; i < 2; i++ {
		rep := sweep(t, f)
		if rep.HostsFailed != 3 || rep.OK() {
			t.Fatalf("sweep %d: %+v", i, rep)
		}
		if i == 0 && (len(rep.Copied) != 1 || rep.Copied[0].SHA256 != sum) {
			t.Fatalf("the good host was not copied: %+v", rep)
		}
		reasons := map[string]string{}
		for _, he := range rep.Errors {
			reasons[he.Host] = he.Reason
			if strings.Contains(he.Error, badPass) {
				t.Errorf("password in error: %s", he.Error)
			}
		}
		want := map[string]string{"down": "offline", "silent": "timeout", "badpass": "auth"}
		for h, w := range want {
			if reasons[h] != w {
				t.Errorf("sweep %d: host %s reason %q, want %q (%+v)", i, h, reasons[h], w, rep.Errors)
			}
		}
	}
	logs := r.logs.String()
	if strings.Contains(logs, badPass) {
		t.Error("password in logs")
	}
	for _, h := range []string{"down", "silent", "badpass"} {
		if n := strings.Count(logs, `"host":"`+h+`","reason"`); n != 1 {
			t.Errorf("host %s logged %d times over two sweeps, want once", h, n)
		}
	}
}
