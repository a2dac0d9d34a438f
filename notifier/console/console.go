// Package console writes verdicts as plain text to a stream (stdout by default): the sink
// for trying bsodwatch out and for logs collected from stdout.
package console

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/template"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/templates"
)

// Config configures a Notifier. Template defaults to the embedded console templates.
type Config struct {
	Out      io.Writer
	Template *template.Template
}

// Notifier writes messages to Out, one block each, separated by a blank line.
type Notifier struct {
	mu   sync.Mutex
	out  io.Writer
	tmpl *template.Template
}

// New returns a Notifier.
func New(c Config) (*Notifier, error) {
	if c.Out == nil {
		return nil, fmt.Errorf("console: no output")
	}
	if c.Template == nil {
		t, err := templates.Load("console", "")
		if err != nil {
			return nil, err
		}
		c.Template = t
	}
	return &Notifier{out: c.Out, tmpl: c.Template}, nil
}

// Markup for plain text: values are cleaned of control characters (so one value cannot
// forge further lines) and shown as they are; links are "label <url>".
var Markup = chat.Markup{
	Escape: func(s string) string { return s },
	Link:   func(u, label string) string { return label + " <" + u + ">" },
}

// Render returns the text for m.
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	v := chat.NewView(m, Markup)
	var parts []string
	for _, name := range []string{"title", "text", "context"} {
		s, err := templates.Exec(n.tmpl, name, v)
		if err != nil {
			return nil, chat.Permanent(chat.ReasonTemplate, "%v", err)
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	return []byte(strings.Join(parts, "\n") + "\n"), nil
}

// Notify writes m. A write error is not retried: the stream will not get better.
func (n *Notifier) Notify(_ context.Context, m *chat.Message) (bool, error) {
	b, err := n.Render(m)
	if err != nil {
		return false, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.out.Write(append(b, '\n')); err != nil {
		return false, fmt.Errorf("console: %w", err)
	}
	return false, nil
}
