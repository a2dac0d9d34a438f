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

func TestInjection(t *testing.T) {
	s := notifytest.RunInjection(t, newNotifier(t, testURL, nil), `\\[click\\]`)
	var p struct{ Text string }
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatal(err)
	}
	for _, mention := range []string{"@here", "@all", "@channel"} {
		if strings.Contains(p.Text, mention) {
			t.Errorf("text still has %s:\n%s", mention, p.Text)
		}
	}
	if !strings.Contains(p.Text, "@\u200bhere") {
		t.Errorf("the hostile host name should still be shown, defused:\n%s", p.Text)
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
