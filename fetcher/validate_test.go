package fetcher_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
)

// TestValidate: every problem is reported at once, each line led by its key relative to
// the fetcher's options.
func TestValidate(t *testing.T) {
	keytab := filepath.Join(t.TempDir(), "svc.keytab")
	if err := os.WriteFile(keytab, []byte{5, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		o    fetcher.Options
		want []string
	}{
		{"ok", fetcher.Options{Credentials: map[string]fetcher.Credential{"default": {User: "svc", Kerberos: &smbauth.Kerberos{KeytabFile: keytab, KDCs: []string{"dc1"}}}},
			LDAP: &fetcher.LDAPOptions{URLs: []string{"ldaps://dc1"}, BaseDNs: []string{"DC=corp,DC=example"}}}, nil},
		{"everything wrong", fetcher.Options{Auth: "basic", ChunkSize: 9 << 20,
			Credentials: map[string]fetcher.Credential{"a": {Kerberos: &smbauth.Kerberos{Realm: "corp", KDCs: []string{"dc 1"}}}},
			LDAP: &fetcher.LDAPOptions{URLs: []string{"https://dc1"}, StartTLS: true, BaseDNs: []string{"nonsense"}, Filter: "(cn=a",
				Bind: "ntlm", PageSize: 5000, Tags: []fetcher.LDAPTag{{OU: "OU=A,DC=x", Group: "CN=G,DC=x"}, {OU: "OU=B,DC=x"}},
				Host: fetcher.LDAPHost{Auth: "basic"}, Credentials: "a"}},
			[]string{
				"chunk_size: 9437184: want 4 KiB (4096) to 8 MiB (8388608)",
				`auth: "basic": want kerberos, ntlm or negotiate`,
				"credentials.a.user: required",
				`credentials.a.kerberos.kdcs[0]: "dc 1": want host or host:port`,
				`credentials.a.kerberos.realm: "corp": want the realm in upper case, e.g. CORP.EXAMPLE.COM`,
				"credentials.a.kerberos.keytab_file: required without a password",
				`ldap.urls: "https://dc1": scheme must be ldaps or ldap`,
				`ldap.base_dns: "nonsense": not a DN`,
				`ldap.filter: "(cn=a": unexpected end of filter`,
				`ldap.bind: "ntlm": want simple or gssapi`,
				"ldap.page_size: 5000: want 1 to 1000 (a domain controller's MaxPageSize)",
				"ldap.tags[0]: give exactly one of ou, group or attribute",
				"ldap.tags[1].tag: required with ou or group",
				`ldap.host.auth: "basic": want kerberos, ntlm or negotiate`,
			}},
		{"gssapi over plain ldap", fetcher.Options{Credentials: map[string]fetcher.Credential{"default": {User: "svc", Kerberos: &smbauth.Kerberos{KeytabFile: keytab, KDCs: []string{"dc1"}}}},
			LDAP: &fetcher.LDAPOptions{URLs: []string{"ldap://dc1.corp.example"}, BaseDNs: []string{"DC=corp,DC=example"}}},
			[]string{"ldap.bind: gssapi over plain ldap://dc1.corp.example is refused: go-ldap has no SASL signing or sealing (domain controllers that require LDAP signing reject such a bind, and the answers could be tampered with): use ldaps:// or start_tls: true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			var got []string
			if err != nil {
				for _, p := range optcheck.Of(err) {
					got = append(got, p.Error())
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
