package teams_test

import (
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/notifier/teams"
	"github.com/bsodwatch/bsodwatch/secret"
	"github.com/bsodwatch/bsodwatch/verdict"
)

func newNotifier(t *testing.T, u secret.Value, c *http.Client) notifytest.Notifier {
	n, err := teams.New(teams.Config{URL: u, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var testURL = secret.New("https://prod-00.environment.api.powerplatform.example/powerautomate/automations/direct/workflows/x/triggers/manual/paths/invoke?sig=secret")

func TestStatusMatrix(t *testing.T) { notifytest.RunStatusMatrix(t, newNotifier) }

func TestGolden(t *testing.T) { notifytest.RunGolden(t, newNotifier(t, testURL, nil), ".json") }

// live is the text of a payload with each backslash escape taken out: what Markdown reads
// as markup.
func live(s string) string {
	var env teams.Envelope
	if err := json.Unmarshal([]byte(s), &env); err != nil {
		return s
	}
	var out []string
	for _, el := range env.Attachments[0].Content.Body {
		out = append(out, notifytest.DropEscapes(el.Text))
	}
	return strings.Join(out, "\n")
}

func TestInjection(t *testing.T) {
	s := notifytest.RunInjection(t, newNotifier(t, testURL, nil), live, `\\[click\\](http:`, `\\*\\*Evil\\*\\*`, "&lt;!channel&gt;")
	if !strings.Contains(s, "[support.example.com/kb/TECH123](https://support.example.com/kb/TECH123)") {
		t.Errorf("rule link missing:\n%s", s)
	}
	r := notifytest.MarkupValues()
	verdict.Ensure(r)
	b, err := newNotifier(t, testURL, nil).Render(&chat.Message{Kind: chat.KindVerdict, Result: r})
	if err != nil {
		t.Fatal(err)
	}
	if l := live(string(b)); !strings.Contains(string(b), "DATE(") || strings.Contains(l, "{{DATE(") {
		t.Errorf("a card function survived in a value (or the fixture has none):\n%s", l)
	}
	// Characters Teams does not interpret are not backslash-escaped: some clients would
	// show the backslash.
	for _, c := range []string{`\\(`, `\\)`, `\\#`, `\\!`, `\\|`, `\\~`} {
		if strings.Contains(s, c) {
			t.Errorf("payload escapes %s, which Teams shows literally on some clients", c)
		}
	}
}

// display is what Teams shows of a card, near enough for finding values in it: the
// TextBlocks' text with escapes and entities decoded.
func display(b []byte) (string, error) {
	var env teams.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return "", err
	}
	var out []string
	for _, el := range env.Attachments[0].Content.Body {
		out = append(out, el.Text)
	}
	return html.UnescapeString(notifytest.UnescapeMarkdown(strings.Join(out, "\n"))), nil
}

func TestKeepsVerdictWithinLimits(t *testing.T) {
	notifytest.RunKeeps(t, newNotifier(t, testURL, nil), teams.Validate, display)
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain SYMEVENT.SYS (x) #1 !|~", "plain SYMEVENT.SYS (x) #1 !|~"},
		{"DRIVER_IRQL_NOT_LESS_OR_EQUAL", "DRIVER_IRQL_NOT_LESS_OR_EQUAL"},
		{"_x_ **b** [l](u) a\\b", `\_x\_ \*\*b\*\* \[l\](u) a\\b`},
		{"&amp; &lt;b&gt; <i>", "&amp;amp; &amp;lt;b&amp;gt; &lt;i&gt;"},
		{"- item", "\u200b- item"},
		{"12. item", "\u200b12. item"},
		{"1.5 GHz", "1.5 GHz"},
		{"{{DATE(x)}}", "{\u200b{DATE(x)}}"},
	}
	for _, tt := range tests {
		if got := teams.Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEveryRenderedCardValidates(t *testing.T) {
	n := newNotifier(t, testURL, nil)
	for name, m := range notifytest.Messages() {
		b, err := n.Render(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := teams.Validate(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTruncationFitsTeamsLimit(t *testing.T) {
	b, err := newNotifier(t, testURL, nil).Render(notifytest.Huge())
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > teams.MaxBytes {
		t.Fatalf("card is %d bytes, limit %d", len(b), teams.MaxBytes)
	}
	if !strings.Contains(string(b), "Message truncated") || !strings.Contains(string(b), "https://bsodwatch.example/results/3f2a9c") {
		t.Errorf("no truncation note with the result link")
	}
}

func TestValidateRejects(t *testing.T) {
	card := func(content string) string {
		return `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":` + content + `}]}`
	}
	ok := `{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"hi"}]}`
	tests := []struct{ name, payload, want string }{
		{"valid", card(ok), ""},
		{"not json", `{`, "not JSON"},
		{"messagecard", `{"@type":"MessageCard","text":"x"}`, "envelope type"},
		{"no attachments", `{"type":"message","attachments":[]}`, "want 1 attachment"},
		{"content type", `{"type":"message","attachments":[{"contentType":"text/plain","content":{}}]}`, "contentType"},
		{"card type", card(`{"type":"Card","version":"1.4","body":[{"type":"TextBlock","text":"x"}]}`), "card type"},
		{"version", card(`{"type":"AdaptiveCard","version":"2.0","body":[{"type":"TextBlock","text":"x"}]}`), "version"},
		{"empty body", card(`{"type":"AdaptiveCard","version":"1.4","body":[]}`), "body is empty"},
		{"element", card(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"Marquee","text":"x"}]}`), "unknown element"},
		{"empty text", card(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":" "}]}`), "without text"},
		{"too big", card(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"` + strings.Repeat("x", teams.MaxBytes) + `"}]}`), "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := teams.Validate([]byte(tt.payload))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
