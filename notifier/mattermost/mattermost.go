// Package mattermost posts verdicts to a Mattermost incoming webhook (its Slack-compatible
// payload, Markdown text), with Markdown escaped and @-mentions broken in untrusted values.
package mattermost

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
)

// MaxText is Mattermost's post size limit in runes.
const MaxText = 16383

// Config configures a Notifier. Template defaults to the embedded mattermost templates.
type Config struct {
	chat.Webhook
	// Username and Channel override the webhook's defaults when set.
	Username string
	Channel  string
}

// Notifier posts to one Mattermost webhook.
type Notifier struct {
	c Config
}

// New checks c and returns a Notifier.
func New(c Config) (*Notifier, error) {
	w, err := c.Check("mattermost")
	if err != nil {
		return nil, err
	}
	c.Webhook = w
	return &Notifier{c: c}, nil
}

// Markup is Mattermost Markdown (CommonMark with autolinks, mentions, channel links,
// hashtags, emoji and emoticons, tables and LaTeX). Escape backslash-escapes every ASCII
// punctuation character any of these start with (CommonMark lets a backslash escape any),
// which leaves no emphasis, link, autolink ("mailto:x", "evil.com/x" after the template's
// "**"), mention, "~channel", "#hashtag", ":emoji:", ";)" or "$latex$" and keeps "&amp;"
// as it is; Clean has already broken "://", "www.", "scheme:" and "domain.tld/" with a
// zero-width space. An @ also gets a zero-width space after it, since the server finds
// mentions in the raw text; a value that starts like a list item, a heading underline or
// a rule ("1. ", "===") gets one first.
//
// Links are [label](url).
var Markup = chat.Markup{
	Escape: Escape,
	Link:   func(u, label string) string { return "[" + label + "](" + u + ")" },
}

// escaped are the ASCII punctuation characters Escape puts a backslash before: all but
// . / , ' " ? % = ^ { } (which start nothing in Mattermost's Markdown in the middle of a
// line, and are kept for searching).
const escaped = "\\`*_[]()<>#+-!|~&:;@$"

// Escape makes s inert in Mattermost Markdown.
func Escape(s string) string {
	prefix := ""
	if lineStart(s) {
		prefix = chat.ZWSP
	}
	return chat.MapRunes(s, prefix, func(r []rune, i int) string {
		switch c := r[i]; {
		case c == '@':
			return `\@` + chat.ZWSP
		case strings.ContainsRune(escaped, c):
			return `\` + string(c)
		}
		return ""
	})
}

// lineStart reports whether s begins with what CommonMark reads at the start of a line:
// digits and '.' or ')' (an ordered list), or '=' (a heading underline); '-', '+', '*', '#'
// and '>' are backslash-escaped anyway.
func lineStart(s string) bool {
	if strings.HasPrefix(s, "=") {
		return true
	}
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && (s[i] == '.' || s[i] == ')')
}

type payload struct {
	Text     string `json:"text"`
	Username string `json:"username,omitempty"`
	Channel  string `json:"channel,omitempty"`
}

// Render returns the JSON payload for m, cut to MaxText by the common policy (chat.Fit).
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	return chat.Fit(chat.NewView(m, Markup), n.Payload, Fits)
}

// Payload builds the payload of a view as it is: title, text and context, and a note with
// the full result's link when the view was shortened.
func (n *Notifier) Payload(v *chat.View) ([]byte, error) {
	title, body, ctxt, err := chat.Parts(n.c.Template, v)
	if err != nil {
		return nil, err
	}
	var parts []string
	for _, s := range []string{title, body, ctxt} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	text := strings.Join(parts, "\n")
	if v.Shortened {
		text += "\n\n_" + chat.TruncatedNote(v) + "_"
	}
	return chat.MarshalJSON(payload{Text: text, Username: n.c.Username, Channel: n.c.Channel})
}

// Fits checks a payload against Mattermost's post size limit.
func Fits(b []byte) error {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxText {
		return fmt.Errorf("text is %d characters, over %d", n, MaxText)
	}
	return nil
}

// Notify posts m; retry reports whether a failure may succeed later.
func (n *Notifier) Notify(ctx context.Context, m *chat.Message) (bool, error) {
	b, err := n.Render(m)
	if err != nil {
		return false, err
	}
	return chat.Post(ctx, n.c.Client, n.c.URL, "application/json", b, nil)
}
