package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/ops"
)

func getenvMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each a full "file:line: message" prefix
	}{
		{"unknown top-level key", "data_dir: /x\nfetchr:\n  interval: 5m\n", []string{`cfg.yaml:2: unknown key "fetchr"`}},
		{"unknown nested key", "nats:\n  urls: [nats://a:4222]\n  tls:\n    ca_fil: x\n", []string{`cfg.yaml:4: unknown key "ca_fil"`}},
		{"two unknown keys", "nats:\n  usr: a\nmetrics:\n  lisen: x\n", []string{`cfg.yaml:2: unknown key "usr"`, `cfg.yaml:4: unknown key "lisen"`}},
		{"bad duration", "fetcher:\n  interval: often\n", []string{`cfg.yaml:2: cannot use str "often" here: want a duration`}},
		{"bad integer", "nats:\n  replicas: three\n", []string{`cfg.yaml:2: cannot use str "three" here: want a whole number`}},
		{"list expected", "nats:\n  urls: nats://a\n", []string{`cfg.yaml:2: cannot use str "nats://a" here: want a list`}},
		{"syntax", "nats:\n  urls: [a\n", []string{"cfg.yaml:"}},
		{"missing secret env", "nats:\n  urls: [nats://a:4222]\n  user: u\n  password_env: BSW_TEST_UNSET\n", []string{"cfg.yaml:4: nats.password_env: secret environment variable BSW_TEST_UNSET is not set"}},
		{"two auth methods", "\n\nnats:\n  token: t\n  creds_file: /etc/hostname\n", []string{"cfg.yaml:5: nats.creds_file: choose one authentication method: user/password, token, nkey_seed_file or creds_file (token is set too)"}},
		{"bad metrics address", "metrics:\n  listen: nonsense\n", []string{`cfg.yaml:2: metrics.listen: address "nonsense"`}},
		{"notifier validation", "notifier:\n  targets:\n    - name: x\n      type: pager\n", []string{`cfg.yaml:4: notifier.targets[0].type: "pager": want slack, teams, mattermost, webhook or console`}},
		{"fetcher ldap validation", "fetcher:\n  credentials:\n    default: {user: svc, password_env: X}\n  ldap:\n    urls: [ldap://dc1.corp.example]\n    filter: \"(cn=a\"\n",
			[]string{`cfg.yaml:3: fetcher.credentials.default.password_env: secret environment variable X is not set`,
				`cfg.yaml:4: fetcher.ldap.base_dns: required (e.g. OU=Servers,DC=corp,DC=example)`,
				`cfg.yaml:5: fetcher.ldap.urls: ldap://dc1.corp.example without start_tls would send the password in clear`,
				`cfg.yaml:6: fetcher.ldap.filter: "(cn=a": unexpected end of filter`}},
		{"fetcher validation", "fetcher:\n  encryption: optional\n", []string{`cfg.yaml:2: fetcher.encryption: "optional": want auto or required`}},
		{"share lifecycle", "share:\n  dir: /tmp\n  min_free: lots\n  compress:\n    level: turbo\n  retention:\n    max_age: 48h\n    silenced_max_age: 24h\n", []string{
			`cfg.yaml:3: size "lots": want a number of bytes`, `cfg.yaml:5: share.compress.level: "turbo": want fastest, default, better or best`,
			`cfg.yaml:8: share.retention.silenced_max_age: 24h0m0s: shorter than max_age (48h0m0s); it keeps dumps longer, not shorter`}},
		{"bad size", "share:\n  min_free: plenty\n", []string{`cfg.yaml:2: size "plenty": want a number of bytes or a number with a unit`}},
		{"two documents", "data_dir: /a\n---\ndata_dir: /b\n", []string{"cfg.yaml:2: only one YAML document is allowed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cfg.yaml", []byte(tc.yaml), getenvMap(nil))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v (%T), want config.Errors", err, err)
			}
			if len(es) != len(tc.want) {
				t.Fatalf("got %d errors:\n%v\nwant %d", len(es), err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(es[i].Error(), w) {
					t.Errorf("error %d:\n got %s\nwant %s...", i, es[i], w)
				}
				if strings.Contains(es[i].Error(), "\n") {
					t.Errorf("error %d spans lines: %q", i, es[i])
				}
			}
		})
	}
}

func TestParseDefaultsAndPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nats.pw"), []byte("  hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "etc", "bsodwatch.yaml")
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"lab.pw": "pw", "hosts.yaml": "hosts: [srv01]\n", "slack.url": "https://hooks.slack.example/x\n"} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := `
nats:
  urls: [nats://a:4222, nats://b:4222]
  user: bsw
  password_file: ../nats.pw
  replicas: 3
fetcher:
  inventory: hosts.yaml
  interval: 90s
  credentials:
    default:
      user: CORP\svc
      password_file: ABS_PW
    lab:
      user: lab
      password_file: lab.pw
notifier:
  targets:
    - name: ops
      type: slack
      url_file: slack.url
share:
  dir: ../dumps
metrics:
  listen: ""
`
	src = strings.Replace(src, "ABS_PW", filepath.Join(dir, "nats.pw"), 1)
	c, err := Parse(file, []byte(src), getenvMap(map[string]string{"HOME": "/home/op"}))
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dir, "etc")
	checks := []struct {
		name      string
		got, want any
	}{
		{"replicas", c.NATS.Replicas, 3},
		{"stream replicas", c.NATS.StreamOptions().Replicas, 3},
		{"urls", strings.Join(c.NATS.URLs, ","), "nats://a:4222,nats://b:4222"},
		{"password file resolved", c.NATS.PasswordFile, filepath.Join(dir, "nats.pw")},
		{"inventory resolved", c.Fetcher.Inventory, filepath.Join(etc, "hosts.yaml")},
		{"interval kept", c.Fetcher.Interval, 90 * time.Second},
		{"role default filled", c.RoleDefaults().Fetcher.StableAfter, 5 * time.Second},
		{"role default left to the role", c.Fetcher.StableAfter, time.Duration(0)},
		{"absolute path kept", c.Fetcher.Credentials["default"].PasswordFile, filepath.Join(dir, "nats.pw")},
		{"map entry resolved", c.Fetcher.Credentials["lab"].PasswordFile, filepath.Join(etc, "lab.pw")},
		{"target url file resolved", c.Notifier.Targets[0].URLFile, filepath.Join(etc, "slack.url")},
		{"targets not replaced", len(c.Notifier.Targets), 1},
		{"metrics off", c.Metrics.Listen, ""},
		{"share dir resolved", c.ShareDir(), filepath.Join(dir, "dumps")},
		{"analyzer share dir follows", c.RoleDefaults().Analyzer.ShareDir, filepath.Join(dir, "dumps")},
		{"inline password cleared", c.NATS.Password, ""},
	}
	if runtime.GOOS != "windows" {
		checks = append(checks, struct {
			name      string
			got, want any
		}{"data dir default", c.DataDir, "/home/op/.local/share/bsodwatch"})
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestDefault(t *testing.T) {
	c := Default(getenvMap(map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/op"}))
	if runtime.GOOS != "windows" && c.DataDir != "/xdg/bsodwatch" {
		t.Errorf("data dir %q", c.DataDir)
	}
	if c.Metrics.Listen != ops.DefaultListen {
		t.Errorf("metrics listen %q", c.Metrics.Listen)
	}
	if len(c.Notifier.Targets) != 1 || c.Notifier.Targets[0].Type != "console" {
		t.Errorf("default targets %+v, want the console", c.Notifier.Targets)
	}
	if err := c.Notifier.Validate(); err != nil {
		t.Errorf("default notifier options invalid: %v", err)
	}
	// An empty file means the defaults too.
	e, err := Parse(filepath.Join(t.TempDir(), "empty.yaml"), nil, getenvMap(map[string]string{"XDG_DATA_HOME": "/xdg"}))
	if err != nil {
		t.Fatal(err)
	}
	if e.DataDir != c.DataDir || e.Metrics != c.Metrics || e.RoleDefaults().Fetcher.Interval != 5*time.Minute {
		t.Errorf("empty file differs from defaults: %+v", e)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: open: ") || strings.Count(err.Error(), "nope.yaml") != 1 {
		t.Errorf("error %v: want the path once and the reason", err)
	}
}

// TestSecretsNotInErrors feeds secrets that the file gets wrong and checks that no error
// message repeats them.
func TestSecretsNotInErrors(t *testing.T) {
	const pw = "Sup3r-Secret-Pw"
	src := "nats:\n  urls: [nats://a]\n  password: " + pw + "\n  token: " + pw + "\n"
	_, err := Parse("c.yaml", []byte(src), nil)
	if err == nil {
		t.Fatal("password without user accepted")
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("error shows the secret: %v", err)
	}
}

// TestParseReportsEverything is the trial: six mistakes of different kinds, each
// of which a role would refuse at start, all reported in one run at the line of the key
// itself (or at the inventory's own line).
func TestParseReportsEverything(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.yaml")
	if err := os.WriteFile(inv, []byte("hosts:\n  - name: web01\n  - name: ../../etc\n  - {name: db01, credentials: lab}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "smb.pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `fetcher:
  inventory: hosts.yaml
  globs: ["LiveKernelReports/**/*.dmp", "../x/*.dmp"]
  chunk_size: 99999999
  interval: often
  credentials:
    default: {user: 'CORP\svc', password_file: smb.pw}
notifier:
  targets:
    - {name: ops, type: console}
    - name: teams
      type: teams
      url_file: teams.url
metrics:
  listen: nonsense
`
	file := filepath.Join(dir, "bsodwatch.yaml")
	_, err := Parse(file, []byte(src), getenvMap(nil))
	_, nx := os.Stat(filepath.Join(dir, "teams.url")) // the system's words for it (Windows has others)
	want := []string{
		file + `:3: fetcher.globs[1]: pattern "../x/*.dmp": empty, '.' or '..' element`,
		file + ":4: fetcher.chunk_size: 99999999: want 4 KiB (4096) to 8 MiB (8388608)",
		file + `:5: cannot use str "often" here: want a duration such as 30s or 5m`,
		file + ":13: notifier.targets[1].url_file: read secret file: open " + filepath.Join(dir, "teams.url") + ": " + errors.Unwrap(nx).Error(),
		file + `:15: metrics.listen: address "nonsense": want host:port`,
		inv + ":3: host name \"../../etc\": invalid path: character '/' not allowed",
		inv + `:4: host "db01": no credentials named "lab" in fetcher.credentials (give it user and password_file, password_env or password)`,
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T), want config.Errors", err, err)
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors:\n%v\nwant %d:\n%s", len(es), err, len(want), strings.Join(want, "\n"))
	}
	for i, w := range want {
		if es[i].Error() != w {
			t.Errorf("error %d:\n got %s\nwant %s", i, es[i], w)
		}
	}
}

func TestSyntaxErrorLine(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want string
	}{
		{"a: 1\nb: 2\nc:\n  d: [x\n", "c.yaml:4: did not find expected ',' or ']'"},
		{"a: 1\nb:\n  - x\n  y: 2\n", "c.yaml:4: did not find expected '-' indicator"},
		{"a: 1\nb: 2\nc: 3\n d: 4\n", "c.yaml:4: mapping values are not allowed in this context"},
	} {
		_, err := Parse("c.yaml", []byte(tt.src), getenvMap(nil))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.src, err, tt.want)
		}
	}
}
