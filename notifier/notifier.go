// Package notifier posts verdicts from the results stream to chat targets (Slack, Teams,
// Mattermost, generic webhooks, the console). Each target has its own durable JetStream
// consumer (notifier-<target>), so targets ack independently and a failing target does not
// hold up the others; a message is acked only after it was delivered, folded into a group
// whose state is stored, or failed permanently (logged with the reason). Repeats of a bucket
// within a target's window become one update; group windows and the buckets seen live in a
// KV bucket, so a restart loses no pending update.
//
// Each post is recorded in the same KV bucket (per target and result message ID, or group
// update) right after it succeeds and before the ack, and checked when a message comes
// back, so a crash between a post and its ack does not post twice. The records expire
// (Options.DeliveredTTL). One window stays open: a crash after the post and before the
// record is written posts again on redelivery; a chat webhook cannot be made exactly-once.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/console"
	"github.com/bsodwatch/bsodwatch/notifier/mattermost"
	"github.com/bsodwatch/bsodwatch/notifier/slack"
	"github.com/bsodwatch/bsodwatch/notifier/teams"
	"github.com/bsodwatch/bsodwatch/notifier/templates"
	"github.com/bsodwatch/bsodwatch/notifier/webhook"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/secret"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// Integration is one kind of chat target. Notify returns retry=true when a failure may
// succeed later (network errors, 5xx, 429); the error is then a *chat.Error that may carry
// the target's Retry-After. Render gives the payload Notify would send, for --dry-run.
type Integration interface {
	Notify(ctx context.Context, m *chat.Message) (retry bool, err error)
	Render(m *chat.Message) ([]byte, error)
}

var (
	_ Integration = (*slack.Notifier)(nil)
	_ Integration = (*teams.Notifier)(nil)
	_ Integration = (*mattermost.Notifier)(nil)
	_ Integration = (*webhook.Notifier)(nil)
	_ Integration = (*console.Notifier)(nil)
)

// Notifier delivers results to its targets.
type Notifier struct {
	opts    Options
	log     zerolog.Logger
	m       *metrics
	targets []*target
	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	silences Silencer // nil: nothing is silenced
}

// target is one configured destination and its grouping state.
type target struct {
	name, kind string
	integ      Integration
	route      Route
	window     time.Duration
	grouping   bool
	secrets    []secret.Value
	groups     map[string]*groupState
	// lastSeq is the newest stream sequence handled: a redelivery at or below it is a
	// duplicate (the consumer delivers one message at a time, in order).
	lastSeq uint64
}

// New builds the notifier: it resolves the targets' secrets, loads their templates and
// checks the options. out is where console targets write. reg may be nil.
func New(o Options, out io.Writer, log zerolog.Logger, reg prometheus.Registerer) (*Notifier, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	n := &Notifier{opts: o, log: log, m: newMetrics(reg), now: time.Now, sleep: sleepCtx}
	client := &http.Client{Timeout: o.Retry.Timeout}
	for _, to := range o.Targets {
		t, err := newTarget(to, client, out)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", to.Name, err)
		}
		n.targets = append(n.targets, t)
	}
	return n, nil
}

// Silencer says whether people silenced a bucket (from the web console) at a time; a
// silenced bucket's verdicts are acked without being posted. It must answer from memory.
type Silencer interface {
	Silenced(bucket string, at time.Time) bool
}

// SetSilencer makes n honour the silences s reports; call it before Run.
func (n *Notifier) SetSilencer(s Silencer) { n.silences = s }

// SetResultURL sets the link of every message to the full verdict when the options named
// none ("{id}" is replaced by the job ID), e.g. to the web console served by the same
// process once its address is known; call it before Run.
func (n *Notifier) SetResultURL(u string) {
	if n.opts.ResultURL == "" {
		n.opts.ResultURL = u
	}
}

// resolved is what a target's options name, read and checked.
type resolved struct {
	url, key secret.Value
	tmpl     *template.Template
}

// resolve reads the target's URL and HMAC key (from file, environment or inline) and loads
// its templates, reporting every problem keyed like the YAML. A URL is never quoted.
func (to TargetOptions) resolve() (resolved, optcheck.Problems) {
	var r resolved
	var ps optcheck.Problems
	if to.Type != TypeConsole {
		before := len(ps)
		r.url = ps.Secret("url", to.URL.Reveal(), to.URLFile, to.URLEnv)
		if len(ps) == before {
			if r.url.IsZero() {
				ps.Addf(urlKey(to), "empty: %s needs a webhook URL (url_file, url_env or url)", to.Type)
			} else if pu, err := url.Parse(r.url.Reveal()); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				ps.Addf(urlKey(to), "not an http(s) URL")
			}
		}
		r.key = ps.Secret("hmac_key", to.HMACKey.Reveal(), to.HMACKeyFile, to.HMACKeyEnv)
	}
	if to.Type != TypeWebhook && knownType(to.Type) {
		var err error
		if r.tmpl, err = templates.Load(to.Type, to.Template); err != nil {
			ps.Addf("template", "%s", err)
		}
	}
	return r, ps
}

func urlKey(to TargetOptions) string {
	switch {
	case to.URLFile != "":
		return "url_file"
	case to.URLEnv != "":
		return "url_env"
	}
	return "url"
}

func newTarget(to TargetOptions, client *http.Client, out io.Writer) (*target, error) {
	t := &target{name: to.Name, kind: to.Type, route: to.Route, window: to.GroupWindow, grouping: !to.NoGrouping}
	r, ps := to.resolve()
	if err := ps.Err(); err != nil {
		return nil, err
	}
	u, key, tmpl := r.url, r.key, r.tmpl
	if to.Type != TypeConsole {
		t.secrets = append(chat.URLSecrets(u), key)
	}
	var err error
	switch to.Type {
	case TypeSlack:
		t.integ, err = slack.New(slack.Config{URL: u, Template: tmpl, Client: client})
	case TypeTeams:
		t.integ, err = teams.New(teams.Config{URL: u, Template: tmpl, Client: client})
	case TypeMattermost:
		t.integ, err = mattermost.New(mattermost.Config{Webhook: chat.Webhook{URL: u, Template: tmpl, Client: client}, Username: to.Username, Channel: to.Channel})
	case TypeWebhook:
		t.integ, err = webhook.New(webhook.Config{URL: u, HMACKey: key, Client: client})
	case TypeConsole:
		t.integ, err = console.New(console.Config{Out: out, Template: tmpl})
	}
	return t, err
}

// Preview is one target's rendering of a result, for --dry-run.
type Preview struct {
	Target  string
	Type    string
	Routed  bool // the target's route accepts the result
	Payload []byte
	Err     error
}

// DryRun renders r for every target without sending or touching any state.
func (n *Notifier) DryRun(r *pipeline.Result) []Preview {
	var out []Preview
	for _, t := range n.targets {
		p := Preview{Target: t.name, Type: t.kind, Routed: t.route.Match(r)}
		p.Payload, p.Err = t.integ.Render(n.message(chat.KindVerdict, r, r.Marks.NewBucket, nil))
		out = append(out, p)
	}
	return out
}

func (n *Notifier) message(kind string, r *pipeline.Result, isNew bool, g *chat.Group) *chat.Message {
	if r != nil {
		verdict.Ensure(r) // a result stored before verdicts
	}
	m := &chat.Message{Kind: kind, Result: r, New: isNew, Group: g}
	if n.opts.ResultURL != "" && r != nil && r.Job.ID != "" {
		m.ResultURL = strings.ReplaceAll(n.opts.ResultURL, "{id}", url.PathEscape(r.Job.ID))
	}
	return m
}

// errShutdown marks a delivery abandoned because the notifier is stopping; the message
// is not acked and comes back.
var errShutdown = errors.New("notifier stopping")

// deliver sends m to t, retrying what may succeed later with exponential backoff (or the
// target's Retry-After) until it succeeds, fails permanently, or ctx ends. keepalive, when
// set, is called around waits so the message's ack deadline does not pass. It returns nil
// when the message is done with (delivered, or failed permanently and logged) and
// errShutdown when ctx ended first.
func (n *Notifier) deliver(ctx context.Context, t *target, m *chat.Message, keepalive func()) error {
	log := n.log.With().Str("target", t.name).Str("integration", t.kind).Str("kind", m.Kind).
		Str("job_id", m.Result.Job.ID).Str("host", m.Result.Job.Host).Str("bucket_id", m.Result.Bucket()).Logger()
	backoff := n.opts.Retry.Initial
	lastErr := ""
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return errShutdown
		}
		if keepalive != nil {
			keepalive()
		}
		start := n.now()
		retry, err := t.integ.Notify(ctx, m)
		n.m.latency.WithLabelValues(t.name).Observe(n.now().Sub(start).Seconds())
		if err == nil {
			n.m.deliveries.WithLabelValues(t.name, t.kind, "delivered").Inc()
			log.Info().Int("attempt", attempt).Msg("delivered")
			return nil
		}
		if ctx.Err() != nil {
			return errShutdown
		}
		reason := chat.Reason(err)
		msg := secret.Redact(err.Error(), t.secrets...)
		n.m.failures.WithLabelValues(t.name, t.kind, reason).Inc()
		if !retry {
			n.m.deliveries.WithLabelValues(t.name, t.kind, "failed").Inc()
			log.Error().Int("attempt", attempt).Str("reason", reason).Str("error", msg).Msg("delivery failed permanently, not retried")
			return nil
		}
		wait := jitter(backoff)
		var ce *chat.Error
		if errors.As(err, &ce) && ce.RetryAfter > 0 {
			wait = min(ce.RetryAfter, n.opts.Retry.MaxRetryAfter)
		}
		// Log a changed error at warn, a repeat of the same at debug: a target down for an
		// hour gives one warning, not hundreds.
		ev := log.Debug()
		if msg != lastErr {
			ev = log.Warn()
			lastErr = msg
		}
		ev.Int("attempt", attempt).Str("reason", reason).Str("error", msg).Dur("retry_in", wait).Msg("delivery failed, will retry")
		if err := n.wait(ctx, wait, keepalive); err != nil {
			return errShutdown
		}
		backoff = min(backoff*2, n.opts.Retry.Max)
	}
}

// wait sleeps d in slices shorter than the ack wait, calling keepalive between them.
func (n *Notifier) wait(ctx context.Context, d time.Duration, keepalive func()) error {
	slice := max(n.opts.AckWait/3, time.Millisecond)
	for d > 0 {
		s := min(d, slice)
		if err := n.sleep(ctx, s); err != nil {
			return err
		}
		d -= s
		if keepalive != nil && d > 0 {
			keepalive()
		}
	}
	return nil
}

func jitter(d time.Duration) time.Duration {
	// ±20 %, so targets that failed together do not retry in lockstep.
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
