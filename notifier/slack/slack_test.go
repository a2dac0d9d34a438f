package slack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"text/template"
	"unicode/utf8"

	"github.com/bsodwatch/bsodwatch/notifier/templates"

	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/notifier/slack"
	"github.com/bsodwatch/bsodwatch/secret"
)

func newNotifier(t *testing.T, u secret.Value, c *http.Client) notifytest.Notifier {
	n, err := slack.New(slack.Config{URL: u, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var testURL = secret.New("https://hooks.slack.example/services/T0/B0/secret")

func TestStatusMatrix(t *testing.T) { notifytest.RunStatusMatrix(t, newNotifier) }

func TestGolden(t *testing.T) { notifytest.RunGolden(t, newNotifier(t, testURL, nil), ".json") }

func TestInjection(t *testing.T) {
	live := func(s string) string { return s } // Slack has no escape character
	s := notifytest.RunInjection(t, newNotifier(t, testURL, nil), live, `&lt;!channel&gt;`, `&lt;@U024BE7LH&gt;`, "∗∗Evil∗∗ ˋCorpˋ")
	// The one real link is Slack markup; the injected ones are not.
	if !strings.Contains(s, `<https://support.example.com/kb/TECH123|`) {
		t.Errorf("rule link missing:\n%s", s)
	}
}

// display is what Slack shows of a payload, near enough for finding values in it: the
// block texts with entities decoded, the look-alikes read as what they stand for, and the
// template's code-span backticks gone.
func display(b []byte) (string, error) {
	var p slack.Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return "", err
	}
	var out []string
	for _, bl := range p.Blocks {
		if bl.Text != nil {
			out = append(out, bl.Text.Text)
		}
		for _, e := range bl.Elements {
			out = append(out, e.Text)
		}
	}
	s := strings.ReplaceAll(strings.Join(out, "\n"), "`", "")
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "∗", "*", "∼", "~", "ˋ", "`", "ˍ", "_", "›", ">").Replace(s), nil
}

func TestKeepsVerdictWithinLimits(t *testing.T) {
	notifytest.RunKeeps(t, newNotifier(t, testURL, nil), slack.Fits, display)
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain SYMEVENT.SYS", "plain SYMEVENT.SYS"},
		{"DRIVER_IRQL_NOT_LESS_OR_EQUAL", "DRIVER_IRQL_NOT_LESS_OR_EQUAL"},
		{"_x_ *b* ~s~ `c`", "ˍxˍ ∗b∗ ∼s∼ ˋcˋ"},
		{"<!here> & <@U1>", "&lt;!here&gt; &amp; &lt;@U1&gt;"},
		{"&amp; &lt;b&gt;", "&amp;amp; &amp;lt;b&amp;gt;"},
		{"> quote > x", "› quote &gt; x"},
		{":smile: a: b", ":\u200bsmile: a: b"},
		{"at 03:12 UTC, Culprit: x.sys", "at 03:12 UTC, Culprit: x.sys"},
		{"a:b:c:", "a:\u200bb:\u200bc:"},
		{"03:12:45", "03:\u200b12:45"},
		{"__init__", "ˍˍinitˍˍ"},
	}
	for _, tt := range tests {
		if got := slack.Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSectionsNeverBreakMarkup: every section and context text of every case has whole
// entities and as many backticks opening as closing, and is sent verbatim.
func TestSectionsNeverBreakMarkup(t *testing.T) {
	n := newNotifier(t, testURL, nil)
	for name, m := range notifytest.Messages() {
		b, err := n.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		var p slack.Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		for i, bl := range p.Blocks {
			texts := bl.Elements
			if bl.Text != nil {
				texts = append(texts, *bl.Text)
			}
			for _, tx := range texts {
				if !tx.Verbatim || tx.Type != "mrkdwn" {
					t.Errorf("%s block %d: %s text without verbatim", name, i, tx.Type)
				}
				if err := checkMrkdwn(tx.Text); err != nil {
					t.Errorf("%s block %d: %v: %q", name, i, err, tx.Text)
				}
			}
		}
	}
}

// checkMrkdwn finds a broken entity or an odd count of backticks or asterisks.
func checkMrkdwn(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] == '&' {
			rest := s[i:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				return fmt.Errorf("broken entity at %d", i)
			}
		}
	}
	for _, d := range []string{"`", "*"} {
		if strings.Count(s, d)%2 != 0 {
			return fmt.Errorf("odd count of %s", d)
		}
	}
	return nil
}

func TestSafeSplitOfLongTemplateLines(t *testing.T) {
	// A template override that puts everything on one line: the line is cut into sections
	// where no entity, code span or bold breaks.
	tmpl, err := template.New("slack").Funcs(templates.Funcs).Parse(`{{define "title"}}t{{end}}{{define "context"}}{{end}}` +
		`{{define "text"}}{{range .Remedy}}*{{.}}* ` + "`{{.}}`" + ` {{end}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	n, err := slack.New(slack.Config{URL: testURL, Template: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Render(notifytest.Huge())
	if err != nil {
		t.Fatal(err)
	}
	if err := slack.Fits(b); err != nil {
		t.Fatal(err)
	}
	var p slack.Payload
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) < 3 {
		t.Fatalf("the long line was not split: %d blocks", len(p.Blocks))
	}
	for i, bl := range p.Blocks {
		if bl.Text != nil {
			if err := checkMrkdwn(bl.Text.Text); err != nil {
				t.Errorf("block %d: %v", i, err)
			}
		}
	}
}

func TestTruncation(t *testing.T) {
	b, err := newNotifier(t, testURL, nil).Render(notifytest.Huge())
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) > slack.MaxBlocks {
		t.Errorf("%d blocks, limit %d", len(p.Blocks), slack.MaxBlocks)
	}
	total := 0
	for i, bl := range p.Blocks {
		if bl.Text != nil {
			n := utf8.RuneCountInString(bl.Text.Text)
			total += n
			if n > slack.MaxSectionText {
				t.Errorf("block %d: %d chars, limit %d", i, n, slack.MaxSectionText)
			}
		}
	}
	if total > slack.MaxTotalText+slack.MaxSectionText {
		t.Errorf("%d chars of section text", total)
	}
	last := p.Blocks[len(p.Blocks)-1]
	if last.Type != "context" || len(last.Elements) != 1 || !strings.Contains(last.Elements[0].Text, "truncated") ||
		!strings.Contains(last.Elements[0].Text, "https://bsodwatch.example/results/3f2a9c") {
		t.Errorf("last block is not the truncation note with the result link: %+v", last)
	}
}

func TestNewNeedsURL(t *testing.T) {
	if _, err := slack.New(slack.Config{}); err == nil {
		t.Fatal("New accepted an empty URL")
	}
}
