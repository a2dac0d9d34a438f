// Package mattermost posts verdicts to a Mattermost incoming webhook (its Slack-compatible
// payload, Markdown text), with Markdown escaped and @-mentions broken in untrusted values.
package mattermost

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

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

// Markup is Mattermost Markdown: Markdown characters are backslash-escaped and an @ gets
// a zero-width space after it, so @here, @channel, @all and @user notify nobody.
var Markup = chat.Markup{
	Escape: Escape,
	Link:   func(u, label string) string { return "[" + label + "](" + u + ")" },
}

var escaper = strings.NewReplacer(append(slices.Clone(chat.MarkdownEscapes), "@", "@\u200b")...)

// Escape makes s inert in Mattermost Markdown.
func Escape(s string) string { return escaper.Replace(s) }

type payload struct {
	Text     string `json:"text"`
	Username string `json:"username,omitempty"`
	Channel  string `json:"channel,omitempty"`
}

// Render returns the JSON payload for m.
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	v := chat.NewView(m, Markup)
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
	note := "\n\n_" + chat.TruncatedNote(v) + "_"
	if t, cut := chat.TruncateRunes(text, MaxText-len([]rune(note)), "…"); cut {
		text = t + note
	}
	return json.MarshalIndent(payload{Text: text, Username: n.c.Username, Channel: n.c.Channel}, "", "  ")
}

// Notify posts m; retry reports whether a failure may succeed later.
func (n *Notifier) Notify(ctx context.Context, m *chat.Message) (bool, error) {
	b, err := n.Render(m)
	if err != nil {
		return false, err
	}
	return chat.Post(ctx, n.c.Client, n.c.URL, "application/json", b, nil)
}
