package chat

import (
	"errors"
	"net/http"
	"strings"
	"text/template"

	"github.com/bsodwatch/bsodwatch/notifier/templates"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Webhook is what an incoming-webhook integration holds: where to post, how to render, and
// the HTTP client to send with.
type Webhook struct {
	URL      secret.Value
	Template *template.Template
	Client   *http.Client
}

// Check returns w with the integration's embedded templates filled in when it has none, or
// an error when the URL is missing. kind names the integration ("slack", "teams").
func (w Webhook) Check(kind string) (Webhook, error) {
	if w.URL.IsZero() {
		return w, errors.New(kind + ": webhook URL is empty")
	}
	if w.Template == nil {
		t, err := templates.Load(kind, "")
		if err != nil {
			return w, err
		}
		w.Template = t
	}
	return w, nil
}

// Parts executes the "title", "text" and "context" templates of t on v; a failure is a
// permanent template error.
func Parts(t *template.Template, v *View) (title, text, context string, err error) {
	var out [3]string
	for i, name := range []string{"title", "text", "context"} {
		if out[i], err = templates.Exec(t, name, v); err != nil {
			return "", "", "", Permanent(ReasonTemplate, "%v", err)
		}
	}
	return out[0], out[1], out[2], nil
}

// MarkdownEscapes are the old/new pairs that backslash-escape every Markdown character, so
// no link, emphasis or HTML can be injected (Teams and Mattermost Markdown).
var MarkdownEscapes = []string{
	`\`, `\\`, "[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, "*", `\*`, "_", `\_`,
	"`", "\\`", "<", `\<`, ">", `\>`, "#", `\#`, "~", `\~`, "|", `\|`, "!", `\!`,
}

// MarkdownEscaper applies MarkdownEscapes.
var MarkdownEscaper = strings.NewReplacer(MarkdownEscapes...)
