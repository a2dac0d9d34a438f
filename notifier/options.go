package notifier

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Options configure the notifier role. Zero values take the documented defaults, so the
// config file can embed this struct and say only what differs.
type Options struct {
	// Targets are where verdicts go; each has its own durable consumer.
	Targets []TargetOptions `yaml:"targets"`
	// GroupWindow is the grouping window of targets that set none. Default 1h.
	GroupWindow time.Duration `yaml:"group_window"`
	// ResultURL links a message to the full result; "{id}" is replaced by the job ID.
	// Default: the web console's verdict page (<web.external_url>/verdicts/{id}, or the
	// console of the same process); none when neither is known, and truncated messages
	// then name the job ID.
	ResultURL string `yaml:"result_url"`
	// Backlog is how far back a target's consumer starts when it is created, so a new
	// target gets recent verdicts but not a year of them. Default 24h.
	Backlog time.Duration `yaml:"backlog"`
	// FlushInterval is how often pending group updates are checked. Default 10s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// AckWait is the consumers' ack wait; retries keep the message alive meanwhile.
	// Default 2m.
	AckWait time.Duration `yaml:"ack_wait"`
	// DeliveredTTL is how long a target remembers that it posted a verdict (a record per
	// target and result in the state bucket, written between the post and the ack), so that
	// a redelivery after a crash is not posted twice. It must outlast the longest time a
	// notifier may stay down with a message unacked. Default 168h (7 days); at least 1s.
	DeliveredTTL time.Duration `yaml:"delivered_ttl"`
	Retry        RetryOptions  `yaml:"retry"`
}

// RetryOptions shape the retry of network errors, 5xx and 429. Other 4xx are not retried.
// Retryable failures are retried until they succeed or the notifier stops (the message is
// then redelivered): a verdict is never dropped because a target was down.
type RetryOptions struct {
	// Initial is the first backoff. Default 1s.
	Initial time.Duration `yaml:"initial"`
	// Max caps the exponential backoff. Default 5m.
	Max time.Duration `yaml:"max"`
	// MaxRetryAfter caps a target's Retry-After. Default 1h.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// Timeout bounds one HTTP request. Default 15s.
	Timeout time.Duration `yaml:"timeout"`
}

// Target types.
const (
	TypeSlack      = "slack"
	TypeTeams      = "teams"
	TypeMattermost = "mattermost"
	TypeWebhook    = "webhook"
	TypeConsole    = "console"
)

// TargetOptions configure one target.
type TargetOptions struct {
	// Name identifies the target in logs, metrics and its consumer name (notifier-<name>):
	// lower-case letters, digits, - and _. Renaming a target creates a new consumer.
	Name string `yaml:"name"`
	// Type is slack, teams, mattermost, webhook or console.
	Type string `yaml:"type"`
	// The webhook URL is a secret: give it by file or environment variable (url_file wins
	// over url_env, which wins over url). It is never logged.
	URL     secret.Value `yaml:"url"`
	URLFile string       `yaml:"url_file"`
	URLEnv  string       `yaml:"url_env"`
	// HMAC key for the webhook type's signature header; same precedence as the URL.
	HMACKey     secret.Value `yaml:"hmac_key"`
	HMACKeyFile string       `yaml:"hmac_key_file"`
	HMACKeyEnv  string       `yaml:"hmac_key_env"`
	// Template is a file whose {{define}}s replace the embedded defaults ("title", "text",
	// "context"); unused by webhook.
	Template string `yaml:"template"`
	// GroupWindow: repeats of a bucket within it become one update. Default Options.GroupWindow.
	GroupWindow time.Duration `yaml:"group_window"`
	// NoGrouping posts every verdict on its own.
	NoGrouping bool `yaml:"no_grouping"`
	// Route selects which verdicts go to this target. Empty: all.
	Route Route `yaml:"route"`
	// Username and Channel override a Mattermost webhook's defaults.
	Username string `yaml:"username"`
	Channel  string `yaml:"channel"`
}

// Route selects verdicts. Every non-empty field must match (and); within a field any value
// may match (or). Comparisons ignore case.
type Route struct {
	// Verdicts: known (a rule matched), unknown (none did), failed (the analysis failed).
	Verdicts []string `yaml:"verdicts"`
	// Severities of the matched rules (a verdict without matches has none).
	Severities []string `yaml:"severities"`
	// RuleTags of the matched rules.
	RuleTags []string `yaml:"rule_tags"`
	// HostTags from the inventory.
	HostTags []string `yaml:"host_tags"`
	// Reboots says which unexpected reboots without a bug check (power loss, a hard hang, a
	// held power button: verdicts of kind reboot, read from the hosts' event logs) this
	// target posts: crash_loop (those that mark a host's crash loop, counted with its blue
	// screens), all, or none; the other fields apply too (a reboot is an unknown verdict:
	// no rule explains it). Every reboot is recorded in the results either way. Default
	// crash_loop.
	Reboots string `yaml:"reboots"`
}

// Values of Route.Reboots.
const (
	RebootsCrashLoop = "crash_loop"
	RebootsAll       = "all"
	RebootsNone      = "none"
)

// Defaults.
const (
	DefaultGroupWindow   = time.Hour
	DefaultBacklog       = 24 * time.Hour
	DefaultFlushInterval = 10 * time.Second
	DefaultAckWait       = 2 * time.Minute
	DefaultDeliveredTTL  = 7 * 24 * time.Hour
)

// WithDefaults returns o with every zero duration set to its documented default (and each
// target's group window to the notifier's). New applies it; config docs show its result.
func (o Options) WithDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.GroupWindow, DefaultGroupWindow)
	def(&o.Backlog, DefaultBacklog)
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.AckWait, DefaultAckWait)
	def(&o.DeliveredTTL, DefaultDeliveredTTL)
	def(&o.Retry.Initial, time.Second)
	def(&o.Retry.Max, 5*time.Minute)
	def(&o.Retry.MaxRetryAfter, time.Hour)
	def(&o.Retry.Timeout, 15*time.Second)
	o.Targets = slices.Clone(o.Targets)
	for i := range o.Targets {
		def(&o.Targets[i].GroupWindow, o.GroupWindow)
		if o.Targets[i].Route.Reboots == "" {
			o.Targets[i].Route.Reboots = RebootsCrashLoop
		}
	}
	return o
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

var verdictKinds = map[string]bool{"known": true, "unknown": true, "failed": true}

// Validate reports every problem with o at once (optcheck.Problems keyed like the YAML:
// targets[2].url_file, ...). It reads each target's URL and key from their files or
// variables (never printing them) and loads its templates, so a target that would fail at
// start fails here.
func (o Options) Validate() error {
	var ps optcheck.Problems
	if len(o.Targets) == 0 {
		ps.Addf("targets", "no targets configured")
	}
	if o.DeliveredTTL != 0 && o.DeliveredTTL < time.Second {
		ps.Addf("delivered_ttl", "%s: want at least 1s", o.DeliveredTTL)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"group_window", o.GroupWindow}, {"backlog", o.Backlog}, {"flush_interval", o.FlushInterval}, {"ack_wait", o.AckWait},
		{"retry.initial", o.Retry.Initial}, {"retry.max", o.Retry.Max}, {"retry.max_retry_after", o.Retry.MaxRetryAfter}, {"retry.timeout", o.Retry.Timeout}} {
		if d.v < 0 {
			ps.Addf(d.key, "%s: must not be negative", d.v)
		}
	}
	if o.ResultURL != "" {
		if u, err := url.Parse(strings.ReplaceAll(o.ResultURL, "{id}", "x")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Addf("result_url", "%q: want an http(s) URL, {id} standing for the verdict", o.ResultURL)
		}
	}
	seen := map[string]int{}
	for i, t := range o.Targets {
		key := optcheck.Index("targets", i)
		if !nameRE.MatchString(t.Name) {
			ps.Addf(key+".name", "%q: lower-case letters, digits, - or _ (at most 64)", t.Name)
		} else if first, dup := seen[t.Name]; dup {
			ps.Addf(key+".name", "%q is also the name of targets[%d]", t.Name, first)
		} else {
			seen[t.Name] = i
		}
		if !knownType(t.Type) {
			ps.Addf(key+".type", "%q: want slack, teams, mattermost, webhook or console", t.Type)
		}
		if t.GroupWindow < 0 {
			ps.Addf(key+".group_window", "%s: must not be negative", t.GroupWindow)
		}
		for j, v := range t.Route.Verdicts {
			if !verdictKinds[v] {
				ps.Addf(optcheck.Index(key+".route.verdicts", j), "%q: want known, unknown or failed", v)
			}
		}
		switch t.Route.Reboots {
		case "", RebootsCrashLoop, RebootsAll, RebootsNone:
		default:
			ps.Addf(key+".route.reboots", "%q: want crash_loop, all or none", t.Route.Reboots)
		}
		for j, v := range t.Route.Severities {
			if !slices.Contains(analysis.Severities, strings.ToLower(v)) {
				ps.Addf(optcheck.Index(key+".route.severities", j), "%q: want one of %s", v, strings.Join(analysis.Severities, ", "))
			}
		}
		if knownType(t.Type) {
			_, tp := t.resolve()
			ps.Add(key, tp.Err())
		}
	}
	return ps.Err()
}

func knownType(t string) bool {
	switch t {
	case TypeSlack, TypeTeams, TypeMattermost, TypeWebhook, TypeConsole:
		return true
	}
	return false
}
