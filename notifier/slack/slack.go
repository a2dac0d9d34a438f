// Package slack posts verdicts to a Slack incoming webhook as Block Kit messages, with
// every untrusted value escaped for mrkdwn and the message kept inside Slack's limits.
package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
)

// Slack's documented limits (and a total well below where msg_blocks_too_long starts).
// Header blocks (plain text, 150 characters) are not sent: titles are mrkdwn.
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

// Markup is Slack mrkdwn. Slack has no escape character, so a value is made inert by
// what it leaves out:
//   - & < > become entities (which kills <!channel>, <@U…>, <!date…> and <http://x|y>);
//   - the formatting characters become look-alikes that Slack does not parse: * → ∗
//     (U+2217), ~ → ∼ (U+223C), ` → ˋ (U+02CB), and _ → ˍ (U+02CD) unless it stands
//     between two letters or digits (DRIVER_IRQL_NOT_LESS_OR_EQUAL stays as it is: Slack
//     formats no underscore inside a word);
//   - a colon that opens a :name: pattern (emoji-name characters, then a colon) gets a
//     zero-width space after it, so it makes no emoji; a lone colon, as in 03:12 UTC or
//     "Culprit: x.sys", is left as it is; a leading > (a quote at the start of a line) becomes › (U+203A);
//   - every mrkdwn text object is sent with verbatim: true, so Slack does not link URLs or
//     channel names in it by itself.
//
// Links are <url|label>.
var Markup = chat.Markup{
	Escape: Escape,
	Link:   func(u, label string) string { return "<" + u + "|" + label + ">" },
}

// Escape makes s inert in Slack mrkdwn.
func Escape(s string) string { return chat.MapRunes(s, "", escapeRune) }

func escapeRune(r []rune, i int) string {
	switch c := r[i]; {
	case c == '>' && i == 0:
		return "›"
	case chat.Entity(c) != "":
		return chat.Entity(c)
	case c == '*':
		return "∗"
	case c == '~':
		return "∼"
	case c == '`':
		return "ˋ"
	case c == '_' && !chat.Intraword(r, i):
		return "ˍ"
	case c == ':' && opensEmoji(r, i):
		return ":" + chat.ZWSP
	}
	return ""
}

// opensEmoji reports whether the colon at r[i] is followed by one or more emoji-name
// characters and another colon.
func opensEmoji(r []rune, i int) bool {
	j := i + 1
	for j < len(r) && emojiName(r[j]) {
		j++
	}
	return j > i+1 && j < len(r) && r[j] == ':'
}

func emojiName(c rune) bool {
	return c < 0x80 && (unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("_+-'", c))
}

// Text is a Block Kit text object.
type Text struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Verbatim bool   `json:"verbatim,omitempty"`
}

// Block is a Block Kit layout block (section or context).
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Payload is an incoming-webhook message: Text is the notification and fallback text.
type Payload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Render returns the JSON payload for m: the message cut to Slack's limits by the common
// policy (chat.Fit).
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	return chat.Fit(chat.NewView(m, Markup), n.Payload, Fits)
}

// Payload builds the payload of a view as it is: the title, the text in sections of at most
// MaxSectionText characters (between lines; a longer line of a template override is cut
// where no entity or markup breaks), the context, and a note with the full result's link
// when the view was shortened.
func (n *Notifier) Payload(v *chat.View) ([]byte, error) {
	title, body, ctxt, err := chat.Parts(n.Template, v)
	if err != nil {
		return nil, err
	}
	p := Payload{Text: title}
	p.Blocks = append(p.Blocks, section(title))
	for _, s := range splitSections(body, MaxSectionText) {
		p.Blocks = append(p.Blocks, section(s))
	}
	if ctxt != "" {
		p.Blocks = append(p.Blocks, contextBlock(ctxt))
	}
	if v.Shortened {
		p.Blocks = append(p.Blocks, contextBlock("_"+chat.TruncatedNote(v)+"_"))
	}
	return chat.MarshalJSON(p)
}

// Fits checks a payload against Slack's limits: MaxBlocks blocks, MaxSectionText
// characters in each text, MaxTotalText in all.
func Fits(b []byte) error {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if len(p.Blocks) > MaxBlocks {
		return fmt.Errorf("%d blocks, over %d", len(p.Blocks), MaxBlocks)
	}
	total := 0
	for i, bl := range p.Blocks {
		texts := bl.Elements
		if bl.Text != nil {
			texts = append(texts, *bl.Text)
		}
		for _, t := range texts {
			n := utf8.RuneCountInString(t.Text)
			if n > MaxSectionText {
				return fmt.Errorf("block %d: %d characters, over %d", i, n, MaxSectionText)
			}
			total += n
		}
	}
	if total > MaxTotalText {
		return fmt.Errorf("%d characters of text, over %d", total, MaxTotalText)
	}
	return nil
}

func section(s string) Block {
	return Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: s, Verbatim: true}}
}

func contextBlock(s string) Block {
	return Block{Type: "context", Elements: []Text{{Type: "mrkdwn", Text: s, Verbatim: true}}}
}

// splitSections packs the lines of text into chunks of at most n characters.
func splitSections(text string, n int) []string {
	var out []string
	var cur strings.Builder
	curN := 0
	flush := func() {
		if curN > 0 {
			out = append(out, strings.TrimRight(cur.String(), "\n"))
			cur.Reset()
			curN = 0
		}
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		ln := utf8.RuneCountInString(line)
		if curN+ln > n {
			flush()
		}
		for ln > n { // one line longer than a block (a template override): a safe cut
			head, tail := chat.SafeCut(line, n, "`", "*", "_", "~")
			out = append(out, head)
			line, ln = tail, utf8.RuneCountInString(tail)
		}
		if strings.TrimSpace(line) == "" && curN == 0 {
			continue
		}
		cur.WriteString(line)
		curN += ln
	}
	flush()
	return out
}

// Notify posts m; retry reports whether a failure may succeed later.
func (n *Notifier) Notify(ctx context.Context, m *chat.Message) (bool, error) {
	b, err := n.Render(m)
	if err != nil {
		return false, err
	}
	return chat.Post(ctx, n.Client, n.URL, "application/json", b, nil)
}
