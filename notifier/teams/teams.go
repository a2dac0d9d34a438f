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

// Markup is the Markdown subset of Adaptive Card TextBlocks: Markdown characters are
// backslash-escaped, so no link, emphasis or HTML can be injected; links are [label](url).
var Markup = chat.Markup{
	Escape: Escape,
	Link:   func(u, label string) string { return "[" + label + "](" + u + ")" },
}

// Escape makes s inert in Adaptive Card Markdown.
func Escape(s string) string { return chat.MarkdownEscaper.Replace(s) }

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

// Render returns the JSON payload for m, cut to fit MaxBytes.
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	v := chat.NewView(m, Markup)
	title, text, ctxt, err := chat.Parts(n.Template, v)
	if err != nil {
		return nil, err
	}
	title, _ = chat.TruncateRunes(title, 2000, "…")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	color := "Default"
	if v.New || v.Failed || v.Regression || v.CrashLoop {
		color = "Attention"
	}
	build := func(lines []string, cut bool) ([]byte, error) {
		body := []Element{{Type: "TextBlock", Text: title, Wrap: true, Weight: "Bolder", Size: "Medium", Color: color}}
		for _, l := range lines {
			body = append(body, Element{Type: "TextBlock", Text: l, Wrap: true, Spacing: "None"})
		}
		if cut {
			body = append(body, Element{Type: "TextBlock", Text: chat.TruncatedNote(v), Wrap: true, IsSubtle: true})
		}
		if ctxt != "" {
			body = append(body, Element{Type: "TextBlock", Text: ctxt, Wrap: true, IsSubtle: true, Size: "Small"})
		}
		env := Envelope{Type: "message", Attachments: []Attachment{{
			ContentType: cardContentType,
			Content: Card{
				Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
				Type:    "AdaptiveCard",
				Version: CardVersion,
				Body:    body,
				MSTeams: map[string]any{"width": "Full"},
			},
		}}}
		return json.MarshalIndent(env, "", "  ")
	}
	b, err := build(lines, false)
	for cut := false; err == nil && len(b) > MaxBytes; {
		// Drop lines from the end, or shorten the last one, until the card fits.
		cut = true
		switch last := len(lines) - 1; {
		case last < 0:
			return nil, chat.Permanent(chat.ReasonInvalidPayload, "card of %d bytes exceeds %d even without its body", len(b), MaxBytes)
		case len(lines[last]) > 1024:
			lines[last], _ = chat.TruncateRunes(lines[last], len([]rune(lines[last]))/2, "…")
		default:
			// Drop at least the overshoot's worth of lines in one go, not one per
			// re-render.
			over := len(b) - MaxBytes
			for over > 0 && len(lines) > 0 {
				over -= len(lines[len(lines)-1])
				lines = lines[:len(lines)-1]
			}
		}
		b, err = build(lines, cut)
	}
	if err != nil {
		return nil, err
	}
	if err := Validate(b); err != nil {
		return nil, chat.Permanent(chat.ReasonInvalidPayload, "%v", err)
	}
	return b, nil
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
	if len(payload) > MaxBytes {
		return fmt.Errorf("card is %d bytes, over the %d-byte limit", len(payload), MaxBytes)
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
