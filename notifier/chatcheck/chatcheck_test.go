package chatcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/mattermost"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/notifier/slack"
	"github.com/bsodwatch/bsodwatch/notifier/teams"
	"github.com/bsodwatch/bsodwatch/secret"
)

// target is one chat integration as the check drives it.
type target struct {
	name    string
	mk      chat.Markup
	payload func(*chat.View) ([]byte, error)
	fits    func([]byte) error
}

func targets(t testing.TB) []target {
	u := secret.New("https://hooks.example/secret")
	s, err := slack.New(slack.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := teams.New(teams.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	mm, err := mattermost.New(mattermost.Config{Webhook: chat.Webhook{URL: u}})
	if err != nil {
		t.Fatal(err)
	}
	return []target{
		{"slack", slack.Markup, s.Payload, slack.Fits},
		{"teams", teams.Markup, tm.Payload, teams.Fits},
		{"mattermost", mattermost.Markup, mm.Payload, mattermost.Fits},
	}
}

// nodeCase is one payload for scripts/chatcheck/check.js (see there).
type nodeCase struct {
	Target string   `json:"target"`
	Name   string   `json:"name"`
	Raw    string   `json:"raw"`
	Twin   string   `json:"twin"`
	Kept   []string `json:"kept"`
	Links  []string `json:"links"`
}

// placeholders returns the Escape of the twin: each distinct value becomes "x1", "x2", ...
// (so a template's comparisons of values come out the same), the empty value stays empty.
func placeholders() func(string) string {
	seen := map[string]string{}
	return func(s string) string {
		if s == "" {
			return ""
		}
		if _, ok := seen[s]; !ok {
			seen[s] = fmt.Sprintf("x%d", len(seen)+1)
		}
		return seen[s]
	}
}

// render renders m for tg as the integration does (chat.Fit over its payload), and the
// twin: the same view, with the same parts dropped, every value "x".
func render(tg target, m *chat.Message) (raw, twin []byte, err error) {
	v := chat.NewView(m, tg.mk)
	if raw, err = chat.Fit(v, tg.payload, tg.fits); err != nil {
		return nil, nil, err
	}
	tv := chat.NewView(m, chat.Markup{Escape: placeholders(), Link: tg.mk.Link})
	chat.DropParts(tv, v.Dropped)
	tv.Shortened = v.Shortened
	twin, err = tg.payload(tv)
	return raw, twin, err
}

// allowedLinks are the URLs a message of m may link: its known issue's rule links and the
// full result.
func allowedLinks(m *chat.Message) []string {
	var out []string
	known, _ := analysis.Explaining(m.Result.Matches)
	if len(known) > 0 {
		for _, l := range known[0].Links {
			if u, ok := chat.SafeURL(l); ok {
				out = append(out, u)
			}
		}
	}
	if u, ok := chat.SafeURL(m.ResultURL); ok {
		out = append(out, u)
	}
	return out
}

func cases(t testing.TB, mk func(target) chat.Markup, prefix string) []nodeCase {
	msgs := notifytest.Messages()
	names := make([]string, 0, len(msgs))
	for n := range msgs {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []nodeCase
	for _, tg := range targets(t) {
		if mk != nil {
			tg.mk = mk(tg)
		}
		for _, name := range names {
			m := msgs[name]
			raw, twin, err := render(tg, m)
			if err != nil {
				t.Fatalf("%s %s: %v", tg.name, name, err)
			}
			out = append(out, nodeCase{Target: tg.name, Name: prefix + name, Raw: string(raw), Twin: string(twin),
				Kept: notifytest.Kept(m), Links: allowedLinks(m)})
		}
	}
	return out
}

// report is what check.js prints.
type report struct {
	Checked  map[string]int `json:"checked"`
	MS       map[string]int `json:"ms"`
	Problems []struct {
		Target, Name, Problem string
	} `json:"problems"`
}

// repoRoot is the repository, two folders up from this package.
func repoRoot(t testing.TB) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// nodeReady finds node and installs the npm packages when they are missing. Under make test
// (BSODWATCH_CHATCHECK set by scripts/test.sh) a missing node fails the test; elsewhere it
// skips, saying why.
func nodeReady(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("BSODWATCH_CHATCHECK") != "" {
			t.Fatalf("node is not installed, and make test needs it for the chat payload checks: %v", err)
		}
		t.Skip("node is not installed: the checks of chat payloads with adaptivecards, @slack/types and @mattermost/commonmark run in Node (make test installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "chatcheck", "install.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/chatcheck/install.sh: %v\n%s", err, out)
	}
	return root
}

// runCheck writes cs for check.js and returns its report.
func runCheck(t *testing.T, root string, cs []nodeCase) report {
	t.Helper()
	in := filepath.Join(t.TempDir(), "cases.json")
	b, err := json.Marshal(map[string]any{"cases": cs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "scripts", "chatcheck", "check.js"), in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.js: %v\n%s", err, out)
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("check.js printed no report: %v\n%s", err, out)
	}
	return r
}

// TestPayloadsPassEachServicesLibrary: every case of notifytest.Messages, in Slack, Teams
// and Mattermost, passes the checks of scripts/chatcheck/check.js; and the same cases
// rendered without escaping (canaries) fail them, so the checks can fail.
func TestPayloadsPassEachServicesLibrary(t *testing.T) {
	root := nodeReady(t)
	good := cases(t, nil, "")
	// Canaries: the markup and hostile cases with values put in as they are.
	var canaries []nodeCase
	raw := func(tg target) chat.Markup {
		return chat.Markup{Escape: func(s string) string { return s }, Link: tg.mk.Link}
	}
	for _, c := range cases(t, raw, "canary-") {
		if c.Name == "canary-markup" || c.Name == "canary-hostile" {
			canaries = append(canaries, c)
		}
	}
	r := runCheck(t, root, append(good, canaries...))
	for _, tg := range []string{"slack", "teams", "mattermost"} {
		if want := len(good)/3 + 2; r.Checked[tg] != want {
			t.Errorf("%s: %d payloads checked, want %d", tg, r.Checked[tg], want)
		}
	}
	hit := map[string]int{}
	for _, p := range r.Problems {
		if strings.HasPrefix(p.Name, "canary-") {
			if hit[p.Target+" "+p.Name]++; hit[p.Target+" "+p.Name] <= 2 {
				t.Logf("canary %s %s: %.200s", p.Target, p.Name, p.Problem)
			}
			continue
		}
		t.Errorf("%s %s: %s", p.Target, p.Name, p.Problem)
	}
	for _, c := range canaries {
		if hit[c.Target+" "+c.Name] == 0 {
			t.Errorf("%s %s: unescaped values passed the check: it cannot fail", c.Target, c.Name)
		}
	}
	t.Logf("checked %v; canary problems %v; check.js took %v ms", r.Checked, hit, r.MS)
}

// TestWritePictureCases writes the payloads scripts/chat-pictures.sh renders, when
// BSODWATCH_CHAT_PICTURES names a folder (the script sets it).
func TestWritePictureCases(t *testing.T) {
	dir := os.Getenv("BSODWATCH_CHAT_PICTURES")
	if dir == "" {
		t.Skip("BSODWATCH_CHAT_PICTURES is not set: scripts/chat-pictures.sh sets it to write the payloads it renders")
	}
	msgs := notifytest.Messages()
	for _, tg := range targets(t) {
		var list []map[string]any
		for _, name := range append(slices.Clone(notifytest.Samples), "hostile", "markup", "oversized-40k", "failed-36k") {
			raw, _, err := render(tg, msgs[name])
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, map[string]any{"name": name, "payload": json.RawMessage(raw)})
		}
		b, err := json.MarshalIndent(list, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s.json", tg.name)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
