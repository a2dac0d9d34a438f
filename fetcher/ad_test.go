package fetcher_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/ldapinv"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
	"github.com/bsodwatch/bsodwatch/internal/adtest"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
	"github.com/bsodwatch/bsodwatch/secret"
)

// The rig's dumps all carry this mtime (scripts/ad.sh).
const adDumpStamp = "20240304T050607Z-"

func keytabCred(e adtest.Env) fetcher.Credential {
	return fetcher.Credential{User: e.User, Kerberos: &smbauth.Kerberos{KeytabFile: e.Keytab, Krb5ConfFile: e.Krb5Conf}}
}

func adOptions(c fetcher.Credential, auth string) fetcher.Options {
	return fetcher.Options{
		Credentials:    map[string]fetcher.Credential{"default": c},
		Auth:           auth,
		RequireSigning: true,
		StableAfter:    50 * time.Millisecond,
		OpTimeout:      20 * time.Second,
	}
}

func adSource(t *testing.T, o fetcher.Options) *smbsource.Source {
	t.Helper()
	src, err := smbsource.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}

// wantShare is what the dump share should hold after copying every dump of hosts.
func wantShare(t *testing.T, e adtest.Env, hosts ...string) map[string]string {
	want := map[string]string{}
	for _, h := range hosts {
		for rel, sum := range e.Dumps(t, h) {
			want[h+"/"+adDumpStamp+path.Base(rel)] = sum
		}
	}
	return want
}

// TestADKerberosFetch discovers the servers over LDAP (GSSAPI bind) and copies their real
// dumps with Kerberos from the service account's keytab: signing required by both sides,
// encryption required by the share (server smb encrypt = required in the rig).
func TestADKerberosFetch(t *testing.T) {
	e := adtest.Need(t)
	o := adOptions(keytabCred(e), smbauth.AuthKerberos)
	src := adSource(t, o)
	krb := src.Kerberos("default")
	inv, err := ldapinv.New(fetcher.LDAPOptions{URLs: []string{"ldaps://" + e.DC}, CAFile: e.CAFile,
		BaseDNs: []string{"OU=Servers," + e.BaseDN}}, ldapinv.Bind{Method: fetcher.BindGSSAPI, Kerberos: krb}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, t.TempDir())
	f := r.fetcher(t, o, inv, src)
	rep := sweep(t, f)
	want := wantShare(t, e, e.Servers...)
	if !rep.OK() || len(rep.Copied) != len(want) || rep.Hosts != len(e.Servers) {
		t.Fatalf("report %+v, want %d dumps from %v", rep, len(want), e.Servers)
	}
	r.checkShare(t, want)
	jobs := r.jobs(t)
	if len(jobs) != len(want) {
		t.Fatalf("%d jobs, want %d", len(jobs), len(want))
	}
	for _, j := range jobs {
		if _, ok := want[j.SharePath]; !ok {
			t.Errorf("job for %s", j.SharePath)
		}
	}
	if rep = sweep(t, f); rep.BytesRead != 0 || rep.Unchanged != len(want) {
		t.Errorf("second sweep read %d bytes: %+v", rep.BytesRead, rep)
	}
}

// TestADKerberosPassword logs on with the account's password from a file and explicit realm
// and KDC (no krb5.conf, no keytab).
func TestADKerberosPassword(t *testing.T) {
	e := adtest.Need(t)
	c := fetcher.Credential{User: e.User + "@" + e.Domain, PasswordFile: e.PasswordFile,
		Kerberos: &smbauth.Kerberos{KDCs: []string{e.KDC}}}
	o := adOptions(c, smbauth.AuthKerberos)
	r := newRig(t, t.TempDir())
	f := r.fetcher(t, o, &staticInv{hosts: []fetcher.Host{{Name: e.Nested[0]}}}, adSource(t, o))
	rep := sweep(t, f)
	want := wantShare(t, e, e.Nested[0])
	if !rep.OK() || len(rep.Copied) != len(want) {
		t.Fatalf("report %+v", rep)
	}
	r.checkShare(t, want)
}

// hostFailure sweeps one host and returns its error report.
func hostFailure(t *testing.T, o fetcher.Options, h fetcher.Host) fetcher.HostError {
	t.Helper()
	r := newRig(t, t.TempDir())
	rep := sweep(t, r.fetcher(t, o, &staticInv{hosts: []fetcher.Host{h}}, adSource(t, o)))
	if rep.HostsFailed != 1 || len(rep.Errors) != 1 {
		t.Fatalf("report %+v, want one failed host", rep)
	}
	if strings.Contains(rep.Errors[0].Error, "\n") {
		t.Errorf("error spans lines: %q", rep.Errors[0].Error)
	}
	return rep.Errors[0]
}

// TestADFailures: each way a logon to an AD host fails gets its own reason and a message
// that says what to do.
func TestADFailures(t *testing.T) {
	e := adtest.Need(t)
	pw := e.Password(t)
	os.Setenv("BSODWATCH_TEST_AD_PASS", pw)
	srv := e.Servers[0]
	ip := e.Addr(t, srv)
	cases := []struct {
		name   string
		cred   fetcher.Credential
		auth   string
		host   fetcher.Host
		reason string
		prefix string
	}{
		{"NTLM refused", fetcher.Credential{User: "BSOD\\" + e.User, PasswordEnv: "BSODWATCH_TEST_AD_PASS"}, smbauth.AuthNTLM,
			fetcher.Host{Name: srv}, "ntlm_blocked", "NTLM is blocked on this host: use Kerberos (auth: kerberos with a keytab) (session " + srv + ":445: "},
		{"wrong keytab", fetcher.Credential{User: e.StaleUser, Kerberos: &smbauth.Kerberos{KeytabFile: e.StaleKeytab, Krb5ConfFile: e.Krb5Conf}},
			smbauth.AuthKerberos, fetcher.Host{Name: srv}, "keytab",
			"host " + srv + ": the KDC refused the keytab " + e.StaleKeytab + " for " + e.StaleUser + "@" + e.Realm + ": its keys no longer match the account (password changed since it was exported?): export it again"},
		{"unknown SPN", keytabCred(e), smbauth.AuthKerberos, fetcher.Host{Name: e.Unjoined}, "unknown_principal",
			"host " + e.Unjoined + ": unknown Kerberos principal: the domain has no account with the SPN cifs/" + e.Unjoined + ": the host is not in the domain, or AD knows it by another name (use its dNSHostName; setspn -Q cifs/" + e.Unjoined + ")"},
		{"computer without keys", keytabCred(e), smbauth.AuthKerberos, fetcher.Host{Name: e.NoKeys[0]}, "unknown_principal",
			"host " + e.NoKeys[0] + ": unknown Kerberos principal: the account with the SPN cifs/" + e.NoKeys[0] + " has no Kerberos keys"},
		{"SPN never from an IP", keytabCred(e), smbauth.AuthKerberos, fetcher.Host{Name: ip}, "unknown_principal",
			"host " + ip + ": unknown Kerberos principal: Kerberos needs the host's DNS name, and " + ip + " is an IP address: name the host as AD knows it (its dNSHostName)"},
		{"negotiate by IP falls back to NTLM, which is blocked", fetcher.Credential{User: e.User, PasswordEnv: "BSODWATCH_TEST_AD_PASS",
			Kerberos: &smbauth.Kerberos{Krb5ConfFile: e.Krb5Conf}}, smbauth.AuthNegotiate, fetcher.Host{Name: ip}, "unknown_principal",
			"host " + ip + ": unknown Kerberos principal: Kerberos needs the host's DNS name, and " + ip + " is an IP address: name the host as AD knows it (its dNSHostName); NTLM fallback: NTLM is blocked on this host"},
		{"KDC unreachable", fetcher.Credential{User: e.User, Kerberos: &smbauth.Kerberos{KeytabFile: e.Keytab, Realm: e.Realm, KDCs: []string{"127.0.0.1:1"}}},
			smbauth.AuthKerberos, fetcher.Host{Name: srv}, "kdc_unreachable", "host " + srv + ": no Kerberos KDC answered for " + e.User + "@" + e.Realm + " ("},
		{"not in the dump readers group", fetcher.Credential{User: e.Outsider + "@" + e.Domain, PasswordEnv: "BSODWATCH_TEST_AD_PASS",
			Kerberos: &smbauth.Kerberos{Krb5ConfFile: e.Krb5Conf}}, smbauth.AuthKerberos, fetcher.Host{Name: srv}, "denied", "access denied: mount ADMIN$ on " + srv + ":445: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			he := hostFailure(t, adOptions(tc.cred, tc.auth), tc.host)
			t.Logf("%s: %s", he.Reason, he.Error)
			if he.Reason != tc.reason || !strings.HasPrefix(he.Error, tc.prefix) {
				t.Errorf("got %s: %s\nwant %s: %s...", he.Reason, he.Error, tc.reason, tc.prefix)
			}
			if strings.Contains(he.Error, pw) {
				t.Error("the password is in the error")
			}
		})
	}
}

// TestADKDCOutage: while no KDC answers, a host whose ticket is not cached fails with reason
// kdc_unreachable and a cached ticket keeps working; when the KDC is back, tickets come
// again (after a failed exchange the client logs in afresh from the keytab when its TGT
// can no longer be used).
func TestADKDCOutage(t *testing.T) {
	e := adtest.Need(t)
	p := adtest.NewProxy(t, e.KDC)
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n udp_preference_limit = 1\n[realms]\n %s = {\n  kdc = 127.0.0.1:%s\n }\n",
		e.Realm, e.Realm, p.Port())), 0o600)
	o := adOptions(fetcher.Credential{User: e.User, Kerberos: &smbauth.Kerberos{KeytabFile: e.Keytab, Krb5ConfFile: conf}}, smbauth.AuthKerberos)
	src := adSource(t, o)
	open := func(host string) error {
		s, err := src.Open(context.Background(), fetcher.Host{Name: host})
		if err == nil {
			_, err = s.ReadDir(context.Background(), "")
			s.Close()
		}
		return err
	}
	if err := open(e.Servers[0]); err != nil {
		t.Fatal(err)
	}
	p.Off()
	if err := open(e.Servers[1]); fetcher.Reason(err) != "kdc_unreachable" {
		t.Fatalf("new host with the KDC gone: %v (reason %s), want kdc_unreachable", err, fetcher.Reason(err))
	}
	if err := open(e.Servers[0]); err != nil {
		t.Errorf("cached ticket with the KDC gone: %v", err)
	}
	p.On(t)
	if err := open(e.Servers[1]); err != nil {
		t.Errorf("with the KDC back: %v", err)
	}
}

// TestADTicketExpiry runs a session through the expiry of its first tickets: they live 6
// minutes (Samba's KDC refuses service tickets and renewal for a TGT with less than about 5
// minutes left; measured: 2-minute tickets fail at once, 6-minute ones work), so gokrb5's
// renewal at 5/6 of the life fails here with KRB_AP_ERR_TKT_EXPIRED and the client must log
// on afresh from the keytab. The logon after the first service ticket's end must succeed
// with a second TGT. It takes 6.5 minutes, so it runs only with BSODWATCH_AD_EXPIRY=1 (make
// test-ad sets it; make test does not).
func TestADTicketExpiry(t *testing.T) {
	e := adtest.Need(t)
	if os.Getenv("BSODWATCH_AD_EXPIRY") != "1" {
		t.Skip("takes 6.5 minutes: set BSODWATCH_AD_EXPIRY=1 (make test-ad does)")
	}
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n udp_preference_limit = 1\n ticket_lifetime = 6m\n renew_lifetime = 20m\n renewable = true\n[realms]\n %s = {\n  kdc = %s\n }\n",
		e.Realm, e.Realm, e.KDC)), 0o600)
	var logs strings.Builder
	o := adOptions(fetcher.Credential{User: e.User, Kerberos: &smbauth.Kerberos{KeytabFile: e.Keytab, Krb5ConfFile: conf}}, smbauth.AuthKerberos)
	src, err := smbsource.New(o, smbsource.WithLogger(zerolog.New(&syncWriter{w: &logs}).Level(zerolog.DebugLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	open := func() error {
		s, err := src.Open(context.Background(), fetcher.Host{Name: e.Servers[0]})
		if err == nil {
			_, err = s.ReadDir(context.Background(), "")
			s.Close()
		}
		return err
	}
	if err := open(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6*time.Minute + 20*time.Second)
	if err := open(); err != nil {
		t.Fatalf("after the first tickets expired: %v", err)
	}
	t.Logf("kerberos log:\n%s", logs.String())
	if n := strings.Count(logs.String(), "TGT session added") + strings.Count(logs.String(), "TGT session renewed"); n < 2 {
		t.Errorf("%d TGTs: the logon after expiry did not get a new one", n)
	}
}

// TestADClockSkew: a domain controller whose clock differs by more than five minutes
// refuses the logon with KRB_AP_ERR_SKEW. Neither Samba's clock nor this process's can be
// moved here (libfaketime has no effect on samba's KDC), so the request carries a timestamp
// ten minutes ahead; the KDC's real answer must classify as clock_skew with a message that
// says to sync the clocks.
func TestADClockSkew(t *testing.T) {
	e := adtest.Need(t)
	krb, err := smbauth.NewClient(e.User, secret.Value{}, smbauth.Kerberos{KeytabFile: e.Keytab, Krb5ConfFile: e.Krb5Conf}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer krb.Destroy()
	kerr := skewedLogon(t, krb, 10*time.Minute)
	err = krb.Classify(kerr, "")
	t.Logf("KDC: %v\nclassified: %v", kerr, err)
	want := "clock skew: this machine's clock and the domain controller's differ by more than the domain allows (5 minutes by default): sync both with NTP (KRB_AP_ERR_SKEW for " + e.User + "@" + e.Realm + ")"
	if fetcher.Reason(err) != "clock_skew" || err.Error() != want {
		t.Errorf("got %s: %v\nwant clock_skew: %s", fetcher.Reason(err), err, want)
	}
	// Control: the same request with the right time logs on.
	if err := skewedLogon(t, krb, 0); err != nil {
		t.Errorf("the same request without skew: %v", err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
