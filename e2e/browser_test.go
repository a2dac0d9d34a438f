//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

var screenshots = flag.String("screenshots", "", "write the browser test's screenshots to this folder (docs/pictures)")

// chromiumPath is Debian's chromium: $BSODWATCH_CHROMIUM (set by scripts/test.sh, which
// installs the package when missing; a browser that is not there then fails the test),
// else /usr/bin/chromium when present, else the test is skipped.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("BSODWATCH_CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("BSODWATCH_CHROMIUM=%s: %v (scripts/test.sh installs Debian's chromium)", p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Skip("no /usr/bin/chromium and BSODWATCH_CHROMIUM unset (make test installs Debian's chromium): skipping the browser test")
	return ""
}

// browser starts headless Chromium with a fresh profile and nothing that phones home.
func browser(t *testing.T) context.Context {
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("chromium %s does not start: %v", path, err)
	}
	return ctx
}

// A new user's path: `bsodwatch run`, a dump dropped into the fleet folder, the printed
// console address opened in a real browser, overview → host → verdict, where the culprit
// and the known issue are shown; the chat message links to the same verdict page.
func TestBrowserOverviewHostVerdict(t *testing.T) {
	dumps := sharedtest.Dir(t, "dumps")
	ctx := browser(t)
	data := t.TempDir()
	chat := newChatSink(t, 0)
	cfg := filepath.Join(data, "bsodwatch.yaml")
	os.WriteFile(cfg, []byte("notifier:\n  targets:\n    - {name: hook, type: webhook, url_env: BW_TEST_HOOK, no_grouping: true}\n    - {name: log, type: console}\n"), 0o600)
	p := newProc(t, "run", []string{"BW_TEST_HOOK=" + chat.srv.URL}, "run", "--config", cfg, "--data", data, "--metrics", "127.0.0.1:0")
	p.start(t)
	consoleRE := regexp.MustCompile(`console\s+(http://127\.0\.0\.1:\d+)/`)
	waitLog(t, p, consoleRE, 1, 60*time.Second)
	base := consoleRE.FindStringSubmatch(p.log())[1]

	for host, dump := range map[string]string{"web01/Minidump/022121-7000-01.dmp": "kernel/triage-x64-win10-19041-bc1000007e.dmp",
		"lab-arm/MEMORY.DMP": "kernel/triage-arm64-win10-17134-bce2.dmp"} {
		dst := filepath.Join(data, "fleet", filepath.FromSlash(host))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		b, err := os.ReadFile(filepath.Join(dumps, dump))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(dst, b, 0o644)
	}
	// Both verdicts stored and indexed (the API reads the same index as the pages).
	byHost := map[string]pipeline.Result{}
	deadline := time.Now().Add(90 * time.Second)
	for len(byHost) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("verdicts not in the console within 90s: %v", byHost)
		}
		time.Sleep(300 * time.Millisecond)
		resp, err := http.Get(base + "/api/v1/verdicts")
		if err != nil {
			continue
		}
		var l struct{ Verdicts []pipeline.Result }
		json.NewDecoder(resp.Body).Decode(&l)
		resp.Body.Close()
		for _, r := range l.Verdicts {
			byHost[r.Job.Host] = r
		}
	}
	x64, arm := byHost["web01"], byHost["lab-arm"]
	if x64.Verdict == nil || x64.Verdict.Culprit == nil || arm.Verdict == nil {
		t.Fatalf("verdicts without culprit: %+v %+v", x64.Verdict, arm.Verdict)
	}
	issues, _ := analysis.Explaining(arm.Matches)
	_, flags := analysis.Explaining(x64.Matches)
	if len(issues) == 0 {
		t.Fatalf("the manual crash matched no known issue: %v", arm.Matches)
	}

	// step runs one browser action, failing the test on error.
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()) // the viewport: what a person sees first
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		dir := *screenshots
		if dir == "" {
			dir = t.TempDir()
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	overview := text("main")
	shot("overview.png")
	// click 1: the host
	do("click the host", chromedp.Click(chromedp.CSS(`main a[href="/hosts/web01"]`)), chromedp.WaitVisible(chromedp.CSS("main table.list")))
	loc, hostPage := location(), text("main")
	shot("host.png")
	if !strings.HasSuffix(loc, "/hosts/web01") || !strings.Contains(overview, "web01") || !strings.Contains(hostPage, x64.Verdict.Headline) {
		t.Fatalf("host page %s:\n%s", loc, hostPage)
	}
	// click 2: the verdict
	do("click the verdict", chromedp.Click(chromedp.CSS(`main table.list a[href="/verdicts/`+x64.Job.ID+`"]`)), chromedp.WaitVisible(chromedp.CSS("table.culprit")))
	loc, verdictPage := location(), text("main")
	shot("verdict.png")
	c := x64.Verdict.Culprit
	for _, want := range []string{x64.Verdict.Headline, c.Module, c.Vendor, c.Product, "Culprit", x64.Job.SHA256} {
		if want != "" && !strings.Contains(verdictPage, want) {
			t.Errorf("verdict page %s lacks %q", loc, want)
		}
	}
	for _, f := range flags {
		if !strings.Contains(verdictPage, "Flag: "+f.Title) {
			t.Errorf("verdict page lacks the flag %q", f.Title)
		}
	}

	// The known issue, by the same two clicks.
	do("known issue: overview, host, verdict", chromedp.Navigate(base+"/"),
		chromedp.Click(chromedp.CSS(`main a[href="/hosts/lab-arm"]`)), chromedp.WaitVisible(chromedp.CSS("main table.list")),
		chromedp.Click(chromedp.CSS(`main table.list a[href="/verdicts/`+arm.Job.ID+`"]`)), chromedp.WaitVisible(chromedp.CSS("section.issue")))
	verdictPage = text("main")
	shot("known-issue.png")
	for _, want := range []string{"Known issue: " + issues[0].Title, "Why it matched", issues[0].Why[0]} {
		if !strings.Contains(verdictPage, want) {
			t.Errorf("known-issue verdict page lacks %q:\n%s", want, verdictPage)
		}
	}

	// The chat message links to the verdict page, and the link opens it.
	link := base + "/verdicts/" + x64.Job.ID
	chat.waitMessages(t, 30*time.Second, "webhook message with the console link", func(ms []string) bool {
		for _, m := range ms {
			if strings.Contains(m, link) {
				return true
			}
		}
		return false
	})
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), c.Module) {
		t.Errorf("the chat link %s: %d", link, resp.StatusCode)
	}
	if code := p.stop(30 * time.Second); code != 130 {
		t.Errorf("exit %d after SIGTERM, want 130", code)
	}
}
