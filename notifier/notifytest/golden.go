package notifytest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden payloads in testdata/")

// Golden compares got with testdata/<name>, or rewrites it with -update.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// RunGolden renders every golden case but those in skip and compares it with
// testdata/<case>.golden<ext>.
func RunGolden(t *testing.T, n Notifier, ext string, skip ...string) {
	t.Helper()
	msgs := Messages()
	names := make([]string, 0, len(msgs))
	for k := range msgs {
		if !slices.Contains(skip, k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := n.Render(msgs[name])
			if err != nil {
				t.Fatal(err)
			}
			Golden(t, name+".golden"+ext, b)
		})
	}
}

// RunInjection renders Hostile and MarkupValues and checks that nothing in Forbidden
// survived live: live returns the payload with what the target's markup escapes taken
// out (for Markdown, each backslash and the character after it), so that a string found
// in it would be read as markup. mustContain are strings the Hostile payload must hold
// (its values escaped, not dropped), so people see what the dump said.
func RunInjection(t *testing.T, n Notifier, live func(string) string, mustContain ...string) string {
	t.Helper()
	var hostile string
	for _, r := range []*pipeline.Result{Hostile(), MarkupValues()} {
		verdict.Ensure(r)
		b, err := n.Render(&chat.Message{Kind: chat.KindVerdict, Result: r})
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if hostile == "" {
			hostile = s
		}
		l := live(s)
		for _, f := range Forbidden {
			if strings.Contains(l, f) {
				t.Errorf("payload has %q live:\n%s", f, s)
			}
		}
	}
	for _, m := range mustContain {
		if !strings.Contains(hostile, m) {
			t.Errorf("payload lacks %q (escaped hostile value):\n%s", m, hostile)
		}
	}
	return hostile
}

// UnescapeMarkdown takes the backslash escapes out of Markdown text: each backslash and the
// ASCII punctuation character after it becomes that character alone.
func UnescapeMarkdown(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && chat.IsASCIIPunct(rune(s[i+1])) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// DropEscapes takes each backslash escape out of Markdown text with its character: what
// is left is what a Markdown parser reads as markup.
func DropEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && chat.IsASCIIPunct(rune(s[i+1])) {
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Kept are the parts of m that a message must never lose, as they read (capped, not
// escaped): the headline (a failed analysis's title names the host and its reason
// instead), the known issue's title, the culprit module and the failure reason.
func Kept(m *chat.Message) []string {
	v := chat.NewView(m, chat.Markup{Escape: func(s string) string { return s }, Link: func(u, l string) string { return l }})
	var out []string
	if !v.Failed && v.Headline != "" {
		out = append(out, v.Headline)
	}
	if v.Known {
		out = append(out, v.Title)
	}
	if v.Module != "" {
		out = append(out, v.Module)
	}
	if v.Reason != "" && (v.Failed || !v.Crash) {
		out = append(out, v.Reason)
	}
	return out
}

// RunKeeps renders every case of Messages and checks that the payload is within the
// target's limits (fits), that what it shows (display: the text a person reads, escapes
// and entities decoded, zero-width spaces gone) holds every Kept part, and that a
// shortened message links its full result.
func RunKeeps(t *testing.T, n Notifier, fits func([]byte) error, display func([]byte) (string, error)) {
	t.Helper()
	for name, m := range Messages() {
		t.Run(name, func(t *testing.T) {
			b, err := n.Render(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := fits(b); err != nil {
				t.Errorf("over a limit: %v", err)
			}
			shown, err := display(b)
			if err != nil {
				t.Fatal(err)
			}
			shown = strings.ReplaceAll(shown, chat.ZWSP, "")
			for _, k := range Kept(m) {
				if k = strings.ReplaceAll(k, chat.ZWSP, ""); !strings.Contains(shown, k) {
					t.Errorf("lost %q; shows:\n%s", k, shown)
				}
			}
			if m.ResultURL != "" && !strings.Contains(string(b), m.ResultURL) {
				t.Errorf("no link to the full result %s", m.ResultURL)
			}
			if strings.HasPrefix(name, "oversized") && !strings.Contains(shown, "truncated") {
				t.Errorf("an oversized verdict does not say it was shortened:\n%s", shown)
			}
		})
	}
}
