package mattermost_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/mattermost"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/secret"
)

func newNotifier(t *testing.T, u secret.Value, c *http.Client) notifytest.Notifier {
	n, err := mattermost.New(mattermost.Config{Webhook: chat.Webhook{URL: u, Client: c}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var testURL = secret.New("https://chat.example/hooks/secretkey123")

func TestStatusMatrix(t *testing.T) { notifytest.RunStatusMatrix(t, newNotifier) }

func TestGolden(t *testing.T) { notifytest.RunGolden(t, newNotifier(t, testURL, nil), ".json") }

// live is the text of a payload with each backslash escape taken out: what Markdown reads
// as markup.
func live(s string) string {
	var p struct{ Text string }
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return s
	}
	return notifytest.DropEscapes(p.Text)
}

func TestInjection(t *testing.T) {
	s := notifytest.RunInjection(t, newNotifier(t, testURL, nil), live, `\\[click\\]`)
	var p struct{ Text string }
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	shown := notifytest.UnescapeMarkdown(p.Text)
	for _, mention := range []string{"@here", "@all", "@channel"} {
		if strings.Contains(shown, mention) {
			t.Errorf("text still has %s:\n%s", mention, p.Text)
		}
	}
	if !strings.Contains(shown, "@\u200bhere") {
		t.Errorf("the hostile host name should still be shown, defused:\n%s", p.Text)
	}
}

func display(b []byte) (string, error) {
	var p struct{ Text string }
	err := json.Unmarshal(b, &p)
	return notifytest.UnescapeMarkdown(p.Text), err
}

func TestKeepsVerdictWithinLimits(t *testing.T) {
	notifytest.RunKeeps(t, newNotifier(t, testURL, nil), mattermost.Fits, display)
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SYMEVENT.SYS", "SYMEVENT.SYS"},
		{"**evil.com/x", `\*\*evil.com/x`},
		{"@here ~town #tag :smile: ;) $x$ |a|", "\\@\u200bhere \\~town \\#tag \\:smile\\: \\;\\) \\$x\\$ \\|a\\|"},
		{"&amp; <b>", `\&amp\; \<b\>`},
		{"1. x", "\u200b1. x"},
		{"=== x", "\u200b=== x"},
	}
	for _, tt := range tests {
		if got := mattermost.Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncation(t *testing.T) {
	b, err := newNotifier(t, testURL, nil).Render(notifytest.Huge())
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Text string }
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(p.Text); n > mattermost.MaxText {
		t.Errorf("%d runes, limit %d", n, mattermost.MaxText)
	}
	if !strings.HasSuffix(p.Text, "_") || !strings.Contains(p.Text, "Message truncated") {
		t.Errorf("no truncation note at the end: …%s", p.Text[len(p.Text)-200:])
	}
}
