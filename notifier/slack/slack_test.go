package slack_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

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
	s := notifytest.RunInjection(t, newNotifier(t, testURL, nil), `\u0026lt;!channel\u0026gt;`, `\u0026lt;@U024BE7LH\u0026gt;`)
	// The one real link is Slack markup; the injected ones are not.
	if !strings.Contains(s, `\u003chttps://support.example.com/kb/TECH123|`) {
		t.Errorf("rule link missing:\n%s", s)
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
