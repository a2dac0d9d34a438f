package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/secret"
)

// Reasons a delivery failed, used as a metric label.
const (
	ReasonClientError    = "client_error"    // 4xx other than 429: not retried
	ReasonServerError    = "server_error"    // 5xx: retried
	ReasonRateLimited    = "rate_limited"    // 429: retried after Retry-After
	ReasonNetwork        = "network"         // connection refused, reset, DNS: retried
	ReasonTimeout        = "timeout"         // no answer in time: retried
	ReasonInvalidPayload = "invalid_payload" // we would send something the target rejects
	ReasonTemplate       = "template"        // a template failed to render
)

// Error is a failed delivery, classified once at the edge.
type Error struct {
	Reason string
	Status int // HTTP status, 0 when there was no answer
	// Retry says whether trying again may help; RetryAfter is the target's own hint.
	Retry      bool
	RetryAfter time.Duration
	Msg        string
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: HTTP %d: %s", e.Reason, e.Status, e.Msg)
	}
	return e.Reason + ": " + e.Msg
}

// Permanent returns a non-retryable error with reason.
func Permanent(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Reason returns err's reason, or "error" for an unclassified one.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "error"
}

// DefaultTimeout bounds one HTTP request when the caller's client has none.
const DefaultTimeout = 15 * time.Second

// Post sends body to the secret URL and classifies a failure; retry reports whether
// trying again may help (the *Error's Retry). The URL never appears in the error: net/http
// quotes it in *url.Error.
func Post(ctx context.Context, c *http.Client, u secret.Value, contentType string, body []byte, hdr http.Header) (retry bool, err error) {
	if c == nil {
		c = &http.Client{Timeout: DefaultTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Reveal(), bytes.NewReader(body))
	if err != nil {
		// The parse error quotes the URL: say only that it is bad.
		return false, Permanent(ReasonInvalidPayload, "bad webhook URL")
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "bsodwatch-notifier")
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		ne := netError(ctx, err, u)
		return ne.Retry, ne
	}
	defer resp.Body.Close()
	// Read a little of the body for the reason, drain the rest so the connection is reused.
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	ce := Classify(resp.StatusCode, resp.Header, string(msg), URLSecrets(u)...)
	return ce.Retry, ce
}

// URLSecrets are the forms in which a webhook URL may be quoted back: whole, and its path
// and query alone (the credential part of most webhook URLs, which servers like to echo).
func URLSecrets(u secret.Value) []secret.Value {
	out := []secret.Value{u}
	if pu, err := url.Parse(u.Reveal()); err == nil {
		for _, p := range []string{pu.RequestURI(), pu.EscapedPath(), pu.Path, pu.RawQuery} {
			if len(p) >= 8 {
				out = append(out, secret.New(p))
			}
		}
	}
	return out
}

// Classify turns a non-2xx answer into an Error: 5xx and 429 are retried (429 and 503
// honouring Retry-After), every other status is permanent.
func Classify(status int, h http.Header, body string, secrets ...secret.Value) *Error {
	e := &Error{Status: status, Msg: oneLine(secret.Redact(body, secrets...))}
	if e.Msg == "" {
		e.Msg = http.StatusText(status)
	}
	switch {
	case status == http.StatusTooManyRequests:
		e.Reason, e.Retry = ReasonRateLimited, true
	case status >= 500:
		e.Reason, e.Retry = ReasonServerError, true
	default:
		e.Reason = ReasonClientError
	}
	if e.Retry {
		e.RetryAfter = ParseRetryAfter(h.Get("Retry-After"), time.Now())
	}
	return e
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP date. Zero means
// absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func netError(ctx context.Context, err error, u secret.Value) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // drop the quoted URL
	}
	e := &Error{Reason: ReasonNetwork, Retry: true, Msg: oneLine(secret.Redact(err.Error(), URLSecrets(u)...))}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		e.Reason = ReasonTimeout
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		e.Retry = false // we are shutting down; the caller will see ctx.Err()
	}
	return e
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s, _ = CapRunes(s, 200)
	return s
}
