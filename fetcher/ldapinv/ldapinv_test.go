package ldapinv_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/ldapinv"
	"github.com/bsodwatch/bsodwatch/internal/adtest"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
	"github.com/bsodwatch/bsodwatch/secret"
)

func options(e adtest.Env) fetcher.LDAPOptions {
	return fetcher.LDAPOptions{
		URLs:    []string{"ldaps://" + e.DC},
		CAFile:  e.CAFile,
		BaseDNs: []string{e.BaseDN},
		Tags: []fetcher.LDAPTag{
			{Tag: "web", OU: "OU=Web,OU=Servers," + e.BaseDN},
			{Tag: "critical", Group: e.CriticalGroup},
			{Tag: "site-{value}", Attribute: "l"},
		},
		Host: fetcher.LDAPHost{Tags: []string{"ad"}},
	}
}

func simple(t *testing.T, e adtest.Env) ldapinv.Bind {
	return ldapinv.Bind{Method: fetcher.BindSimple, User: e.User + "@" + e.Domain, Password: secret.New(e.Password(t))}
}

func read(t *testing.T, o fetcher.LDAPOptions, b ldapinv.Bind) (*ldapinv.Inventory, []fetcher.Host) {
	t.Helper()
	inv, err := ldapinv.New(o, b, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := inv.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return inv, hosts
}

func names(hosts []fetcher.Host) []string {
	var n []string
	for _, h := range hosts {
		n = append(n, h.Name)
	}
	sort.Strings(n)
	return n
}

func sorted(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	sort.Strings(out)
	return out
}

func byName(hosts []fetcher.Host, name string) fetcher.Host {
	for _, h := range hosts {
		if h.Name == name {
			return h
		}
	}
	return fetcher.Host{}
}

// TestADDiscovery reads the rig's enabled computers: every enabled one (the DC, the servers
// with dumps, the one without an SPN, the OU=Lab ones) and no disabled one, with tags from
// OU, group and attribute.
func TestADDiscovery(t *testing.T) {
	e := adtest.Need(t)
	inv, hosts := read(t, options(e), simple(t, e))
	want := sorted([]string{e.DC}, e.Servers, e.NoKeys, e.Lab)
	if got := names(hosts); !slices.Equal(got, want) {
		t.Fatalf("hosts\n got %v\nwant %v", got, want)
	}
	for _, d := range e.Disabled {
		if byName(hosts, d).Name != "" {
			t.Errorf("disabled computer %s listed", d)
		}
	}
	st := inv.Stats()
	if st.Hosts != len(want) || st.Skipped != 0 || st.URL != "ldaps://"+e.DC {
		t.Errorf("stats %+v", st)
	}
	tags := func(h string) []string { s := slices.Clone(byName(hosts, h).Tags); sort.Strings(s); return s }
	for _, tc := range []struct {
		host string
		want []string
	}{
		{"srv01." + e.Domain, []string{"ad", "site-Berlin"}},
		{"srv02." + e.Domain, []string{"ad", "critical", "site-Paris", "web"}},
		{e.Lab[0], []string{"ad"}},
	} {
		if got := tags(tc.host); !slices.Equal(got, tc.want) {
			t.Errorf("%s tags %v, want %v", tc.host, got, tc.want)
		}
	}
}

// TestADDiscoveryNestedOU searches one OU: computers of OUs below it are found, disabled
// ones still not.
func TestADDiscoveryNestedOU(t *testing.T) {
	e := adtest.Need(t)
	for _, tc := range []struct {
		base string
		want []string
	}{
		{"OU=Servers," + e.BaseDN, e.Servers},
		{"OU=Web,OU=Servers," + e.BaseDN, e.Nested},
	} {
		o := options(e)
		o.BaseDNs = []string{tc.base}
		_, hosts := read(t, o, simple(t, e))
		if got := names(hosts); !slices.Equal(got, sorted(tc.want)) {
			t.Errorf("base %s: hosts %v, want %v", tc.base, got, tc.want)
		}
	}
}

// TestADDiscoveryPaging: with pages of 3 the search takes several requests, each answered
// with the paged-results control and at most 3 entries, and finds the same hosts as one big
// page. (Samba has no 1,000-entry cap, so only the pages show that paging is used.)
func TestADDiscoveryPaging(t *testing.T) {
	e := adtest.Need(t)
	_, all := read(t, options(e), simple(t, e))
	o := options(e)
	o.PageSize = 3
	inv, paged := read(t, o, simple(t, e))
	st := inv.Stats()
	t.Logf("%d entries in %d pages %v", st.Entries, st.Pages, st.PageSizes)
	if st.Entries <= 3 {
		t.Fatalf("only %d entries: the rig should hold more than a page", st.Entries)
	}
	if !st.Paged || st.Pages != (st.Entries+2)/3 {
		t.Errorf("paged %v, %d pages for %d entries: want the paged control and %d pages", st.Paged, st.Pages, st.Entries, (st.Entries+2)/3)
	}
	for _, n := range st.PageSizes {
		if n > 3 {
			t.Errorf("a page of %d entries: %v", n, st.PageSizes)
		}
	}
	if !slices.Equal(names(paged), names(all)) {
		t.Errorf("paged hosts %v differ from %v", names(paged), names(all))
	}
}

// TestADDiscoveryBinds: GSSAPI with the service account's keytab over LDAPS and StartTLS
// finds the same hosts as a simple bind; GSSAPI over plain ldap:// is refused before any
// connection; a wrong password is an auth failure.
func TestADDiscoveryBinds(t *testing.T) {
	e := adtest.Need(t)
	_, want := read(t, options(e), simple(t, e))
	krb, err := smbauth.NewClient(e.User, secret.Value{}, smbauth.Kerberos{KeytabFile: e.Keytab, Krb5ConfFile: e.Krb5Conf}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer krb.Destroy()
	gss := ldapinv.Bind{Method: fetcher.BindGSSAPI, Kerberos: krb}
	t.Run("gssapi over ldaps", func(t *testing.T) {
		_, got := read(t, options(e), gss)
		if !slices.Equal(names(got), names(want)) {
			t.Errorf("hosts %v, want %v", names(got), names(want))
		}
	})
	t.Run("gssapi over starttls", func(t *testing.T) {
		o := options(e)
		o.URLs, o.StartTLS = []string{"ldap://" + e.DC}, true
		_, got := read(t, o, gss)
		if !slices.Equal(names(got), names(want)) {
			t.Errorf("hosts %v, want %v", names(got), names(want))
		}
	})
	t.Run("gssapi over plain ldap refused", func(t *testing.T) {
		o := options(e)
		o.URLs = []string{"ldap://" + e.DC}
		_, err := ldapinv.New(o, gss, zerolog.Nop())
		want := "ldap.bind: gssapi over plain ldap://" + e.DC + " is refused: go-ldap has no SASL signing or sealing (domain controllers that require LDAP signing reject such a bind, and the answers could be tampered with): use ldaps:// or start_tls: true"
		if err == nil || err.Error() != want {
			t.Errorf("error\n got %v\nwant %s", err, want)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		b := simple(t, e)
		b.Password = secret.New("not-the-password")
		inv, err := ldapinv.New(options(e), b, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		_, err = inv.Refresh(context.Background())
		want := "logon failed: ldap bind to " + e.DC + " as " + e.User + "@" + e.Domain + ": invalid credentials"
		if err == nil || err.Error() != want || fetcher.Reason(err) != "auth" {
			t.Errorf("error\n got %v (%s)\nwant %s", err, fetcher.Reason(err), want)
		}
		if strings.Contains(err.Error(), "not-the-password") {
			t.Error("the password is in the error")
		}
	})
}

// TestADDiscoveryBadFilter: a filter that does not parse is refused by Validate with its key;
// a base DN that does not exist is a configuration error from the server.
func TestADDiscoveryBadFilter(t *testing.T) {
	e := adtest.Need(t)
	o := options(e)
	o.Filter = "(&(objectCategory=computer)"
	err := o.Validate()
	want := `filter: "(&(objectCategory=computer)": unexpected end of filter`
	if err == nil || err.Error() != want {
		t.Errorf("Validate:\n got %v\nwant %s", err, want)
	}
	if _, err := ldapinv.New(o, simple(t, e), zerolog.Nop()); err == nil || err.Error() != want {
		t.Errorf("New: %v", err)
	}
	o = options(e)
	o.BaseDNs = []string{"OU=Nowhere," + e.BaseDN}
	inv, err := ldapinv.New(o, simple(t, e), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	_, err = inv.Refresh(context.Background())
	want = `configuration: ldap.base_dns: "OU=Nowhere,` + e.BaseDN + `" does not exist in the directory`
	if err == nil || err.Error() != want || fetcher.Reason(err) != "config" {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

// TestADDiscoveryUnreachableKeepsLastList: when the domain controller stops answering, a
// refresh fails with reason offline and returns the last good list; within the refresh
// interval the directory is not asked at all; when it answers again the list is new.
func TestADDiscoveryUnreachableKeepsLastList(t *testing.T) {
	e := adtest.Need(t)
	p := adtest.NewProxy(t, e.Addr(t, e.DC)+":636")
	o := options(e)
	o.URLs = []string{"ldaps://" + e.DC + ":" + p.Port()}
	o.Refresh = time.Hour
	o.Timeout = 5 * time.Second
	inv, err := ldapinv.New(o, simple(t, e), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, err := inv.Hosts(ctx)
	if err != nil || len(first) == 0 {
		t.Fatalf("first read: %d hosts, %v", len(first), err)
	}
	p.Off()
	if got, err := inv.Hosts(ctx); err != nil || !slices.Equal(names(got), names(first)) {
		t.Fatalf("within the refresh interval: %v, %v (want the cached list, no error)", names(got), err)
	}
	got, err := inv.Refresh(ctx)
	if err == nil || fetcher.Reason(err) != "offline" {
		t.Fatalf("refresh with the DC gone: %v (reason %s), want offline", err, fetcher.Reason(err))
	}
	if !strings.Contains(err.Error(), "keeping the "+strconv.Itoa(len(first))+" hosts read at") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q should say which list is kept, on one line", err)
	}
	if !slices.Equal(names(got), names(first)) {
		t.Errorf("kept %v, want %v", names(got), names(first))
	}
	p.On(t)
	if got, err := inv.Refresh(ctx); err != nil || !slices.Equal(names(got), names(first)) {
		t.Errorf("after the DC came back: %v, %v", names(got), err)
	}
}

// TestADDiscoveryWithFile combines the directory with an inventory file: a file host
// replaces the discovered one of the same name, others are added, exclusions drop hosts by
// pattern; the failing directory still leaves the file's hosts.
func TestADDiscoveryWithFile(t *testing.T) {
	e := adtest.Need(t)
	inv, err := ldapinv.New(options(e), simple(t, e), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hosts.yaml")
	srv01 := "srv01." + e.Domain
	os.WriteFile(file, []byte("hosts:\n  - name: "+srv01+"\n    tags: [static]\n  - name: extra."+e.Domain+"\n    address: 127.0.0.2\nexclude: [\"lab*\", dc1]\n"), 0o600)
	fi, err := fetcher.NewFileInventory(file)
	if err != nil {
		t.Fatal(err)
	}
	c := &fetcher.CombinedInventory{Discovered: inv, File: fi}
	hosts, err := c.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := sorted(e.Servers, e.NoKeys, []string{"extra." + e.Domain})
	if got := names(hosts); !slices.Equal(got, want) {
		t.Fatalf("hosts %v, want %v", got, want)
	}
	if tags := byName(hosts, srv01).Tags; !slices.Equal(tags, []string{"static"}) {
		t.Errorf("%s tags %v: the file's entry should replace the discovered one", srv01, tags)
	}
	broken, _ := ldapinv.New(fetcher.LDAPOptions{URLs: []string{"ldaps://" + e.DC + ":1"}, CAFile: e.CAFile, BaseDNs: []string{e.BaseDN}, Timeout: 2 * time.Second},
		simple(t, e), zerolog.Nop())
	hosts, err = (&fetcher.CombinedInventory{Discovered: broken, File: fi}).Hosts(context.Background())
	if err == nil || !errors.Is(err, fetcher.ErrOffline) || len(hosts) != 2 {
		t.Errorf("directory down: %d hosts, %v; want the file's 2 and an offline error", len(hosts), err)
	}
}
