// Package teams posts verdicts to Microsoft Teams through a Workflows (Power Automate)
// webhook as an Adaptive Card. Workflows answers 202 even for a card it will fail to post,
// so every card is validated here before it is sent.
package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
)

// MaxBytes is the documented Teams message size limit.
const MaxBytes = 28 * 1024

// CardVersion is the Adaptive Card schema version sent; Teams renders up to 1.5.
const CardVersion = "1.4"

// Config configures a Notifier. Template defaults to the embedded teams templates.
type Config = chat.Webhook

// Notifier posts to one Workflows webhook.
type Notifier struct {
	chat.Webhook
}

// New checks c and returns a Notifier.
func New(c Config) (*Notifier, error) {
	w, err := c.Check("teams")
	if err != nil {
		return nil, err
	}
	return &Notifier{Webhook: w}, nil
}

// Markup is the Markdown of Adaptive Card TextBlocks in Teams, which knows bold, italic,
// lists and links only. Escape touches just those and the entities:
//   - & < > become entities (Teams decodes entities, so a value "&amp;" would otherwise
//     show as "&");
//   - \ * [ ] are backslash-escaped, and _ too unless it stands between two letters or
//     digits (where CommonMark makes no emphasis of it);
//   - a value that starts like a list item ("- ", "+ ", "1. ") gets a zero-width space
//     first, and "{{" a zero-width space inside (the card's {{DATE()}} and {{TIME()}});
//   - nothing else: ( ) # ! | ~ are not escaped, since some Teams clients show such
//     backslashes literally (AdaptiveCards issues #5590, #4677).
//
// Links are [label](url).
var Markup = chat.Markup{
	Escape: Escape,
	Link:   func(u, label string) string { return "[" + label + "](" + u + ")" },
}

// Escape makes s inert in Teams' Adaptive Card Markdown.
func Escape(s string) string {
	prefix := ""
	if listStart([]rune(s)) {
		prefix = chat.ZWSP
	}
	return chat.MapRunes(s, prefix, escapeRune)
}

func escapeRune(r []rune, i int) string {
	switch c := r[i]; {
	case chat.Entity(c) != "":
		return chat.Entity(c)
	case c == '\\' || c == '*' || c == '[' || c == ']' || (c == '_' && !chat.Intraword(r, i)):
		return "\\" + string(c)
	case c == '{' && i+1 < len(r) && r[i+1] == '{':
		return "{" + chat.ZWSP
	}
	return ""
}

// listStart reports whether r begins like a Markdown list item: "-", "+" or "*", or up to
// nine digits and "." or ")", then a space or the end.
func listStart(r []rune) bool {
	i := 0
	if len(r) > 0 && (r[0] == '-' || r[0] == '+' || r[0] == '*') {
		i = 1
	} else {
		for i < len(r) && i < 9 && r[i] >= '0' && r[i] <= '9' {
			i++
		}
		if i == 0 || i >= len(r) || (r[i] != '.' && r[i] != ')') {
			return false
		}
		i++
	}
	return i == len(r) || r[i] == ' '
}

// Element is an Adaptive Card body element (the subset bsodwatch sends).
type Element struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
}

// Card is an Adaptive Card.
type Card struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []Element      `json:"body"`
	MSTeams map[string]any `json:"msteams,omitempty"`
}

// Attachment wraps a card in a message.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Envelope is what the Workflows trigger "When a Teams webhook request is received" takes.
type Envelope struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

const cardContentType = "application/vnd.microsoft.card.adaptive"

// Render returns the JSON payload for m, cut to MaxBytes by the common policy (chat.Fit)
// and validated.
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	b, err := chat.Fit(chat.NewView(m, Markup), n.Payload, Fits)
	if err != nil {
		return nil, err
	}
	if err := Validate(b); err != nil {
		return nil, chat.Permanent(chat.ReasonInvalidPayload, "%v", err)
	}
	return b, nil
}

// Fits checks a payload against the Teams message size limit.
func Fits(b []byte) error {
	if len(b) > MaxBytes {
		return fmt.Errorf("card is %d bytes, over the %d-byte limit", len(b), MaxBytes)
	}
	return nil
}

// Payload builds the card of a view as it is: the title, one TextBlock per line of text,
// a note with the full result's link when the view was shortened, and the context.
func (n *Notifier) Payload(v *chat.View) ([]byte, error) {
	title, text, ctxt, err := chat.Parts(n.Template, v)
	if err != nil {
		return nil, err
	}
	color := "Default"
	if v.New || v.Failed || v.Regression || v.CrashLoop {
		color = "Attention"
	}
	body := []Element{{Type: "TextBlock", Text: title, Wrap: true, Weight: "Bolder", Size: "Medium", Color: color}}
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			body = append(body, Element{Type: "TextBlock", Text: l, Wrap: true, Spacing: "None"})
		}
	}
	if v.Shortened {
		body = append(body, Element{Type: "TextBlock", Text: chat.TruncatedNote(v), Wrap: true, IsSubtle: true})
	}
	if ctxt != "" {
		body = append(body, Element{Type: "TextBlock", Text: ctxt, Wrap: true, IsSubtle: true, Size: "Small"})
	}
	return chat.MarshalJSON(Envelope{Type: "message", Attachments: []Attachment{{
		ContentType: cardContentType,
		Content: Card{
			Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
			Type:    "AdaptiveCard",
			Version: CardVersion,
			Body:    body,
			MSTeams: map[string]any{"width": "Full"},
		},
	}}})
}

// Notify posts m. A 202 means Workflows accepted the request, not that the card was posted;
// the card was validated before sending for that reason.
func (n *Notifier) Notify(ctx context.Context, m *chat.Message) (bool, error) {
	b, err := n.Render(m)
	if err != nil {
		return false, err
	}
	return chat.Post(ctx, n.Client, n.URL, "application/json", b, nil)
}

var elementTypes = map[string]bool{
	"TextBlock": true, "FactSet": true, "ColumnSet": true, "Container": true,
	"Image": true, "ActionSet": true, "RichTextBlock": true,
}

var cardVersions = map[string]bool{"1.0": true, "1.1": true, "1.2": true, "1.3": true, "1.4": true, "1.5": true}

// Validate checks a Workflows payload the way Teams would, since Workflows itself answers
// 202 for anything: the envelope, exactly one Adaptive Card attachment, a version Teams
// renders, known element types with their required fields, and the 28 KB size limit.
func Validate(payload []byte) error {
	if err := Fits(payload); err != nil {
		return err
	}
	var env struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return fmt.Errorf("card is not JSON: %w", err)
	}
	if env.Type != "message" {
		return fmt.Errorf("envelope type is %q, want \"message\"", env.Type)
	}
	if len(env.Attachments) != 1 {
		return fmt.Errorf("want 1 attachment, got %d", len(env.Attachments))
	}
	a := env.Attachments[0]
	if a.ContentType != cardContentType {
		return fmt.Errorf("attachment contentType is %q, want %q", a.ContentType, cardContentType)
	}
	var card struct {
		Type    string           `json:"type"`
		Version string           `json:"version"`
		Body    []map[string]any `json:"body"`
	}
	if err := json.Unmarshal(a.Content, &card); err != nil {
		return fmt.Errorf("card content: %w", err)
	}
	if card.Type != "AdaptiveCard" {
		return fmt.Errorf("card type is %q, want \"AdaptiveCard\"", card.Type)
	}
	if !cardVersions[card.Version] {
		return fmt.Errorf("card version %q is not one Teams renders (1.0–1.5)", card.Version)
	}
	if len(card.Body) == 0 {
		return errors.New("card body is empty")
	}
	for i, el := range card.Body {
		t, _ := el["type"].(string)
		if !elementTypes[t] {
			return fmt.Errorf("body[%d]: unknown element type %q", i, t)
		}
		if t == "TextBlock" {
			if s, _ := el["text"].(string); strings.TrimSpace(s) == "" {
				return fmt.Errorf("body[%d]: TextBlock without text", i)
			}
		}
	}
	return nil
}
