// Package webhook posts verdicts as JSON to any HTTP endpoint: the result itself in a small
// versioned envelope, with a delivery ID for idempotency and an optional HMAC-SHA256
// signature so the receiver can check that bsodwatch sent it.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Headers set on every request.
const (
	HeaderDelivery  = "X-Bsodwatch-Delivery"  // stable per message: receivers drop repeats
	HeaderSignature = "X-Bsodwatch-Signature" // "sha256=" + hex HMAC of the body
	HeaderKind      = "X-Bsodwatch-Kind"      // verdict or update
)

// Version of the envelope; bumped on incompatible changes.
const Version = 1

// Config configures a Notifier.
type Config struct {
	URL secret.Value
	// HMACKey, when set, signs each body (GitHub-style header).
	HMACKey secret.Value
	Client  *http.Client
}

// Notifier posts to one webhook.
type Notifier struct {
	c Config
}

// New checks c and returns a Notifier.
func New(c Config) (*Notifier, error) {
	if c.URL.IsZero() {
		return nil, errors.New("webhook: URL is empty")
	}
	return &Notifier{c: c}, nil
}

// Envelope is the JSON body.
type Envelope struct {
	Version   int              `json:"version"`
	Kind      string           `json:"kind"`
	New       bool             `json:"new"`
	Group     *chat.Group      `json:"group,omitempty"`
	ResultURL string           `json:"result_url,omitempty"`
	Result    *pipeline.Result `json:"result"`
}

// Render returns the JSON body for m. JSON needs no markup escaping: encoding/json also
// escapes <, > and & so the body is safe to embed in HTML.
func (n *Notifier) Render(m *chat.Message) ([]byte, error) {
	return json.MarshalIndent(Envelope{
		Version: Version, Kind: m.Kind, New: m.New || (m.Result != nil && m.Result.Marks.NewBucket && m.Kind != chat.KindUpdate),
		Group: m.Group, ResultURL: m.ResultURL, Result: m.Result,
	}, "", "  ")
}

// Sign returns the signature header value of body under key.
func Sign(key secret.Value, body []byte) string {
	h := hmac.New(sha256.New, []byte(key.Reveal()))
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// DeliveryID identifies m across retries and redeliveries.
func DeliveryID(m *chat.Message) string {
	id := m.Kind
	if m.Result != nil {
		id += ":" + m.Result.MsgID()
	}
	if m.Group != nil {
		id += ":" + m.Group.Since.UTC().Format("20060102T150405Z")
	}
	return id
}

// Notify posts m; retry reports whether a failure may succeed later.
func (n *Notifier) Notify(ctx context.Context, m *chat.Message) (bool, error) {
	b, err := n.Render(m)
	if err != nil {
		return false, chat.Permanent(chat.ReasonInvalidPayload, "%v", err)
	}
	h := http.Header{}
	h.Set(HeaderDelivery, DeliveryID(m))
	h.Set(HeaderKind, m.Kind)
	if !n.c.HMACKey.IsZero() {
		h.Set(HeaderSignature, Sign(n.c.HMACKey, b))
	}
	return chat.Post(ctx, n.c.Client, n.c.URL, "application/json", b, h)
}
