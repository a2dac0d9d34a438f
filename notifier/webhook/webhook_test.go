package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/notifier/webhook"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/secret"
)

func newNotifier(t *testing.T, u secret.Value, c *http.Client) notifytest.Notifier {
	n, err := webhook.New(webhook.Config{URL: u, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStatusMatrix(t *testing.T) { notifytest.RunStatusMatrix(t, newNotifier) }

// The oversized cases are not golden files here: the webhook sends the result whole (its
// receivers are programs), which TestOversizedSentWhole checks.
var oversized = []string{"huge", "oversized-5k", "oversized-40k", "failed-36k"}

func TestGolden(t *testing.T) {
	notifytest.RunGolden(t, newNotifier(t, secret.New("https://hooks.example/x"), nil), ".json", oversized...)
}

func TestOversizedSentWhole(t *testing.T) {
	n := newNotifier(t, secret.New("https://hooks.example/x"), nil)
	msgs := notifytest.Messages()
	for _, name := range oversized {
		m := msgs[name]
		b, err := n.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		var env webhook.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(env.Result, m.Result) {
			t.Errorf("%s: the result did not go whole", name)
		}
	}
}

func TestSignatureAndResultRoundTrip(t *testing.T) {
	key := secret.New("s3cr3t-hmac-key")
	var got struct {
		body []byte
		hdr  http.Header
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.body, _ = io.ReadAll(r.Body)
		got.hdr = r.Header.Clone()
	}))
	defer srv.Close()
	n, err := webhook.New(webhook.Config{URL: secret.New(srv.URL), HMACKey: key, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	in := notifytest.Known()
	m := &chat.Message{Kind: chat.KindVerdict, Result: in, New: true}
	if _, err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if sig := got.hdr.Get(webhook.HeaderSignature); sig != webhook.Sign(key, got.body) {
		t.Errorf("signature %q does not match the body", sig)
	}
	if webhook.Sign(secret.New("other key"), got.body) == got.hdr.Get(webhook.HeaderSignature) {
		t.Error("signature does not depend on the key")
	}
	if id := got.hdr.Get(webhook.HeaderDelivery); id != webhook.DeliveryID(m) || id == "" {
		t.Errorf("delivery id %q", id)
	}
	var env struct {
		Version int              `json:"version"`
		Kind    string           `json:"kind"`
		New     bool             `json:"new"`
		Result  *pipeline.Result `json:"result"`
	}
	if err := json.Unmarshal(got.body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Version != webhook.Version || env.Kind != chat.KindVerdict || !env.New {
		t.Errorf("envelope %+v", env)
	}
	if env.Result == nil || env.Result.Job.ID != in.Job.ID || env.Result.Bucket() != in.Bucket() || env.Result.Matches[0].ID != "KI-0042" {
		t.Errorf("result did not round-trip: %+v", env.Result)
	}
}
