package main

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/internal/adtest"
)

// TestADFetchCommand runs `bsodwatch fetch --once` with an LDAP inventory (GSSAPI bind)
// and the service account's keytab: the real dumps of every enabled server under
// OU=Servers are copied, byte for byte, and queued; the disabled server is never asked.
func TestADFetchCommand(t *testing.T) {
	e := adtest.Need(t)
	addr, _ := fetchNATS(t)
	share := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "bsodwatch.yaml")
	os.WriteFile(cfg, []byte(`nats:
  urls: [nats://`+addr+`]
share:
  dir: `+share+`
fetcher:
  stable_after: 50ms
  auth: kerberos
  require_signing: true
  credentials:
    default:
      user: `+e.User+`
      kerberos:
        keytab_file: `+e.Keytab+`
        krb5_conf_file: `+e.Krb5Conf+`
  ldap:
    urls: [ldaps://`+e.DC+`]
    ca_file: `+e.CAFile+`
    base_dns: ["OU=Servers,`+e.BaseDN+`"]
    tags:
      - {ou: "OU=Web,OU=Servers,`+e.BaseDN+`", tag: web}
`), 0o600)
	code, stdout, stderr := runFetch(t, "--config", cfg, "--once", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep fetcher.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report %q: %v", stdout, err)
	}
	var got, want []string
	for _, c := range rep.Copied {
		got = append(got, c.SharePath+" "+c.SHA256)
		if sum := adtest.SHA256(t, filepath.Join(share, filepath.FromSlash(c.SharePath))); sum != c.SHA256 {
			t.Errorf("%s on the share has sha256 %s, report says %s", c.SharePath, sum, c.SHA256)
		}
	}
	for _, h := range e.Servers {
		for rel, sum := range e.Dumps(t, h) {
			want = append(want, h+"/20240304T050607Z-"+path.Base(rel)+" "+sum)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") || rep.Hosts != len(e.Servers) {
		t.Fatalf("copied (%d hosts)\n%s\nwant\n%s", rep.Hosts, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("bsodwatch fetch --once:\n%s", stdout)
}
