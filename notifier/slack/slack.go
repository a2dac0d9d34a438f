// Package slack posts verdicts to a Slack incoming webhook as Block Kit messages, with
// every untrusted value escaped for mrkdwn and the message kept inside Slack's limits.
package slack

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
)

// Slack's documented limits (and a total well below where msg_blocks_too_long starts).
const (
	MaxBlocks      = 50
	MaxSectionText = 3000
	MaxTotalText   = 12000
)

// Config configures a Notifier. Template defaults to the embedded slack templates.
type Config = chat.Webhook

// Notifier posts to one Slack webhook.
type Notifier struct {
	chat.Webhook
}

// New checks c and returns a Notifier.
func New(c Config) (*Notifier, error) {
	w, err := c.Check("slack")
	if err != nil {
		return nil, err
	}
	return &Notifier{Webhook: w}, nil
}

// Markup is Slack mrkdwn: escape &, < and > (which kills <!channel>, <@U…> and
// <http://x|y> links); links are <url|label>.
var Markup = chat.Markup{
	Escape: Escape,
	Link:   func(u, label string) string { return "<" + u + "|" + label + ">" },
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes s inert in Slack mrkdwn.
func Escape(s string) string { return escaper.Replace(s) }

type text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type block struct {
	Type     string `json:"type"`
	Text     *text  `json:"text,omitempty"`
	Elements []text `json:"elements,omitempty"`
}

type payload struct {
	Text   string  `json:"text"`
	Blocks []block `json:"blocks"`
}

// Render returns the JSON payload for m.
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	v := chat.NewView(m, Markup)
	title, body, ctxt, err := chat.Parts(n.Template, v)
	if err != nil {
		return nil, err
	}
	title, _ = chat.TruncateRunes(title, MaxSectionText, "…")
	ctxt, _ = chat.TruncateRunes(ctxt, MaxSectionText, "…")
	body, cut := chat.TruncateRunes(body, MaxTotalText, "…")
	p := payload{Text: title}
	p.Blocks = append(p.Blocks, section(title))
	// Room for title, context and the truncation note.
	sections := chat.SplitLines(body, MaxSectionText)
	if len(sections) > MaxBlocks-3 {
		sections, cut = sections[:MaxBlocks-3], true
	}
	for _, s := range sections {
		p.Blocks = append(p.Blocks, section(s))
	}
	if ctxt != "" {
		p.Blocks = append(p.Blocks, block{Type: "context", Elements: []text{{Type: "mrkdwn", Text: ctxt}}})
	}
	if cut {
		p.Blocks = append(p.Blocks, block{Type: "context", Elements: []text{{Type: "mrkdwn", Text: "_" + chat.TruncatedNote(v) + "_"}}})
	}
	return json.MarshalIndent(p, "", "  ")
}

func section(s string) block {
	return block{Type: "section", Text: &text{Type: "mrkdwn", Text: s}}
}

// Notify posts m; retry reports whether a failure may succeed later.
func (n *Notifier) Notify(ctx context.Context, m *chat.Message) (bool, error) {
	b, err := n.Render(m)
	if err != nil {
		return false, err
	}
	return chat.Post(ctx, n.Client, n.URL, "application/json", b, nil)
}
