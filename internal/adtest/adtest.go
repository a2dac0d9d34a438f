// Package adtest gives tests the Active Directory rig of scripts/ad.sh: a Samba AD domain
// controller in network and mount namespaces of its own. Tests run inside them through
// `scripts/ad.sh exec go test -run '^TestAD' ./...` (make test and make test-ad do), which
// sets BSODWATCH_AD_ENV to the env file the rig wrote.
package adtest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env is the rig as its env file describes it.
type Env struct {
	Realm, Domain, BaseDN, DC, KDC    string
	Krb5Conf, CAFile                  string
	User, Keytab, PasswordFile        string
	StaleUser, StaleKeytab, Outsider  string
	Shares                            string
	Servers, Nested, Disabled, NoKeys []string
	Unjoined                          string
	Lab                               []string
	CriticalGroup                     string
}

// Need returns the rig, skips the test when BSODWATCH_AD_ENV is not set (outside make test),
// and fails it when the variable is set but the rig is not usable: its env file is missing,
// or the test does not run inside the rig's namespaces.
func Need(t testing.TB) Env {
	t.Helper()
	path := os.Getenv("BSODWATCH_AD_ENV")
	if path == "" {
		t.Skip("BSODWATCH_AD_ENV not set: start the rig with scripts/ad.sh start and run the tests through scripts/ad.sh exec go test -run '^TestAD' ./... (make test and make test-ad do)")
	}
	vars, err := readEnv(path)
	if err != nil {
		t.Fatalf("the AD rig is not running (scripts/ad.sh start failed?): %v", err)
	}
	get := func(k string) string {
		v := vars["BSODWATCH_AD_"+k]
		if v == "" {
			t.Fatalf("%s lacks BSODWATCH_AD_%s: restart the rig with scripts/ad.sh start", path, k)
		}
		return v
	}
	e := Env{
		Realm: get("REALM"), Domain: get("DOMAIN"), BaseDN: get("BASE_DN"), DC: get("DC"), KDC: get("KDC"),
		Krb5Conf: get("KRB5_CONF"), CAFile: get("CA_FILE"), User: get("USER"), Keytab: get("KEYTAB"),
		PasswordFile: get("PASSWORD_FILE"), StaleUser: get("STALE_USER"), StaleKeytab: get("STALE_KEYTAB"),
		Outsider: get("OUTSIDER_USER"), Shares: get("SHARES"),
		Servers: strings.Fields(get("SERVERS")), Nested: strings.Fields(get("NESTED")),
		Disabled: strings.Fields(get("DISABLED")), NoKeys: strings.Fields(get("NO_KEYS")), Unjoined: get("UNJOINED"),
		Lab: strings.Fields(get("LAB")), CriticalGroup: get("CRITICAL_GROUP"),
	}
	e.inside(t)
	return e
}

// inside fails the test unless the DC's name resolves to loopback and its LDAPS port
// answers: both hold only inside the rig's namespaces.
func (e Env) inside(t testing.TB) {
	t.Helper()
	addrs, err := net.DefaultResolver.LookupHost(context.Background(), e.DC)
	if err != nil || len(addrs) == 0 || !net.ParseIP(addrs[0]).IsLoopback() {
		t.Fatalf("%s does not resolve to loopback (%v %v): run the test inside the rig, through scripts/ad.sh exec", e.DC, addrs, err)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(e.DC, "636"), 3*time.Second)
	if err != nil {
		t.Fatalf("the rig's LDAPS port does not answer (%v): run the test through scripts/ad.sh exec", err)
	}
	c.Close()
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		l, ok := strings.CutPrefix(l, "export ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			vars[k] = strings.Trim(v, "'")
		}
	}
	if len(vars) == 0 {
		return nil, errors.New(path + " holds no variables")
	}
	return vars, sc.Err()
}

// Password is the service account's password.
func (e Env) Password(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(e.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Addr returns the address a host name resolves to inside the rig.
func (e Env) Addr(t testing.TB, host string) string {
	t.Helper()
	a, err := net.DefaultResolver.LookupHost(context.Background(), host)
	if err != nil || len(a) == 0 {
		t.Fatalf("resolve %s: %v", host, err)
	}
	return a[0]
}

// Dumps returns the files the rig serves as host's ADMIN$ (relative '/'-separated path ->
// sha256), read from the share directory.
func (e Env) Dumps(t testing.TB, host string) map[string]string {
	t.Helper()
	root := filepath.Join(e.Shares, e.Addr(t, host))
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = SHA256(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SHA256 of a file, hex.
func SHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
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

// Proxy forwards TCP connections from a loopback port to target until it is switched off;
// it stands in for a domain controller that becomes unreachable.
type Proxy struct {
	target string
	l      net.Listener
	addr   string

	mu    sync.Mutex
	conns []net.Conn
	off   bool
}

// NewProxy listens on 127.0.0.1 and forwards to target; Close stops it at the end of t.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, l: l, addr: l.Addr().String()}
	go p.serve()
	t.Cleanup(p.Off)
	return p
}

// Port is the proxy's port.
func (p *Proxy) Port() string { _, port, _ := net.SplitHostPort(p.addr); return port }

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// Off closes the listener and every forwarded connection: the port then refuses.
func (p *Proxy) Off() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return
	}
	p.off = true
	p.l.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// On listens on the same port again.
func (p *Proxy) On(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.l, p.off, p.conns = l, false, nil
	go p.serve()
}
