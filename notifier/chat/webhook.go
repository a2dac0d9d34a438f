package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
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

// MarshalJSON encodes a payload indented and without HTML escaping: & < > go as they are
// (the markup already made them inert), so the payload is what the service reads and is
// no larger than it need be.
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
