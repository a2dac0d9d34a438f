package chat

import (
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
