package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/secret"
)

// NATSOptions say how a role reaches a NATS server or cluster that runs apart from it. The
// all-in-one `bsodwatch run` ignores them unless URLs are set (it uses its embedded server).
// Secrets are read from a file or an environment variable rather than written inline.
type NATSOptions struct {
	// URLs of the servers, e.g. nats://nats-1:4222; several for a cluster. Default: none
	// (`run` uses its embedded server; the separate roles need at least one).
	URLs []string `yaml:"urls"`
	// Name is the client connection name shown by the server. Default: bsodwatch-<role>.
	Name string `yaml:"name"`
	// User for user/password authentication. Default: none.
	User string `yaml:"user"`
	// Password inline (discouraged: prefer password_file or password_env). Default: none.
	Password string `yaml:"password"`
	// PasswordFile holds the password (surrounding whitespace trimmed). Default: none.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names the environment variable that holds the password. Default: none.
	PasswordEnv string `yaml:"password_env"`
	// Token inline for token authentication (discouraged: prefer token_file or token_env).
	Token string `yaml:"token"`
	// TokenFile holds the token. Default: none.
	TokenFile string `yaml:"token_file"`
	// TokenEnv names the environment variable that holds the token. Default: none.
	TokenEnv string `yaml:"token_env"`
	// NKeySeedFile is a file with an NKey seed (SU...) for NKey authentication. Default: none.
	NKeySeedFile string `yaml:"nkey_seed_file"`
	// CredsFile is a .creds file (JWT + NKey seed) for decentralised auth. Default: none.
	CredsFile string `yaml:"creds_file"`
	// TLS to the server; enabled when any file is set or a URL uses tls://.
	TLS TLSOptions `yaml:"tls"`
	// Replicas is the JetStream replica count used when this role creates the streams:
	// 1 on a single server, 3 on a three-node cluster. Default: 1.
	Replicas int `yaml:"replicas"`

	// Resolved secrets; filled by Resolve, never serialised.
	password, token secret.Value
	resolved        bool
}

// TLSOptions configure TLS to the NATS server.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs that signed the server certificate. Default: the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile is the client certificate (PEM) for mutual TLS. Default: none.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client certificate's private key (PEM). Default: none.
	KeyFile string `yaml:"key_file"`
	// InsecureSkipVerify turns off server certificate checks: for tests only. Default: false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (t TLSOptions) enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify
}

// StreamOptions returns the stream settings these options ask for.
func (o *NATSOptions) StreamOptions() StreamOptions {
	return StreamOptions{Replicas: o.Replicas}
}

// Resolve reads the password and token from their files or environment variables, checks
// that the other files can be read and that the options do not contradict each other, and
// clears the inline secrets so that only secret.Values hold them. It returns every problem
// at once (optcheck.Problems, keyed like the YAML: password_env, tls.ca_file, ...). Connect
// calls it when needed.
func (o *NATSOptions) Resolve() error {
	if o.resolved {
		return nil
	}
	var ps optcheck.Problems
	o.password = ps.Secret("password", o.Password, o.PasswordFile, o.PasswordEnv)
	pwFailed := len(ps) > 0
	o.token = ps.Secret("token", o.Token, o.TokenFile, o.TokenEnv)
	o.Password, o.Token = "", ""
	var methods []string
	if o.User != "" || !o.password.IsZero() {
		switch {
		case o.User == "":
			ps.Addf("user", "a password needs a user")
		case o.password.IsZero() && !pwFailed:
			ps.Addf("user", "%q needs a password (password_file, password_env or password)", o.User)
		}
		methods = append(methods, "user")
	}
	for _, m := range []struct {
		key string
		set bool
	}{{"token", !o.token.IsZero() || o.TokenFile != "" || o.TokenEnv != ""}, {"nkey_seed_file", o.NKeySeedFile != ""}, {"creds_file", o.CredsFile != ""}} {
		if m.set {
			methods = append(methods, m.key)
		}
	}
	if len(methods) > 1 {
		ps.Addf(methods[1], "choose one authentication method: user/password, token, nkey_seed_file or creds_file (%s is set too)", methods[0])
	}
	ps.File("nkey_seed_file", o.NKeySeedFile)
	ps.File("creds_file", o.CredsFile)
	ps.File("tls.ca_file", o.TLS.CAFile)
	ps.File("tls.cert_file", o.TLS.CertFile)
	ps.File("tls.key_file", o.TLS.KeyFile)
	switch {
	case o.TLS.CertFile != "" && o.TLS.KeyFile == "":
		ps.Addf("tls.cert_file", "needs tls.key_file too")
	case o.TLS.CertFile == "" && o.TLS.KeyFile != "":
		ps.Addf("tls.key_file", "needs tls.cert_file too")
	}
	for i, u := range o.URLs {
		if err := checkURL(u); err != nil {
			ps.Addf(optcheck.Index("urls", i), "%s", err)
		}
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		ps.Addf("replicas", "%d: want 1 to 5", o.Replicas)
	}
	if err := ps.Err(); err != nil {
		return err
	}
	o.resolved = true
	return nil
}

// checkURL accepts what nats.go dials: host:port, or nats://, tls://, ws:// and wss:// URLs.
func checkURL(s string) error {
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("%q: want a nats://, tls://, ws:// or wss:// URL", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// natsOptions turns the options into nats.go options.
func (o *NATSOptions) natsOptions(log zerolog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1), // a role never gives up on its queue
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() || nc.IsDraining() {
				return // our own Close or Drain: nothing to reconnect to
			}
			ev := log.Warn().Str("server", nc.ConnectedUrlRedacted())
			if err != nil {
				ev = ev.Str("error", o.redact(err.Error()))
			}
			ev.Msg("nats disconnected; reconnecting")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			log.Debug().Msg("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Str("error", o.redact(err.Error())).Msg("nats async error")
		}),
	}
	switch {
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.password.Reveal()))
	case !o.token.IsZero():
		opts = append(opts, nats.Token(o.token.Reveal()))
	case o.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey_seed_file: %w", err)
		}
		opts = append(opts, opt)
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.TLS.enabled() {
		cfg, err := o.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(cfg))
	}
	return opts, nil
}

func (t TLSOptions) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented for tests
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("nats tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nats tls.ca_file %s: no PEM certificates", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (o *NATSOptions) redact(s string) string { return secret.Redact(s, o.password, o.token) }

// NoServerError says that no server of the URLs answered (Dial).
type NoServerError struct{ URLs string }

func (e *NoServerError) Error() string { return "no NATS at " + e.URLs }

// Connect connects to the servers in o.URLs and keeps reconnecting for as long as the
// connection lives. When no server answers at first it retries until ctx ends, so a role
// may start before its NATS server; an authentication or TLS error fails at once.
func Connect(ctx context.Context, o NATSOptions, log zerolog.Logger) (*nats.Conn, error) {
	return connect(ctx, o, log, true)
}

// Dial connects like Connect but tries once: for commands a person runs, who wants to hear
// at once that nothing listens (a *NoServerError) rather than wait.
func Dial(ctx context.Context, o NATSOptions, log zerolog.Logger) (*nats.Conn, error) {
	return connect(ctx, o, log, false)
}

func connect(ctx context.Context, o NATSOptions, log zerolog.Logger, retry bool) (*nats.Conn, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("no NATS server URLs configured (nats.urls)")
	}
	if err := o.Resolve(); err != nil {
		return nil, err
	}
	if o.Name == "" {
		o.Name = "bsodwatch"
	}
	opts, err := o.natsOptions(log)
	if err != nil {
		return nil, err
	}
	if !retry {
		opts = append(opts, nats.Timeout(5*time.Second))
	}
	urls := strings.Join(o.URLs, ",")
	wait := 500 * time.Millisecond
	for {
		nc, err := nats.Connect(urls, opts...)
		if err == nil {
			log.Debug().Str("server", nc.ConnectedUrlRedacted()).Msg("nats connected")
			return nc, nil
		}
		msg := o.redact(err.Error())
		if !retryable(err) {
			// The client's own "nats: " prefix would repeat ours.
			msg = strings.TrimPrefix(msg, "nats: ")
			if errors.Is(err, nats.ErrAuthorization) {
				msg += " (the server refused the user, password, token or credentials given)"
			}
			return nil, fmt.Errorf("nats %s: %s", redactURLs(o.URLs), msg)
		}
		if !retry {
			return nil, &NoServerError{URLs: redactURLs(o.URLs)}
		}
		log.Warn().Str("error", msg).Dur("retry_in", wait).Msg("nats not reachable yet")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no NATS at %s (%s): %w", redactURLs(o.URLs), msg, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

// redactURLs lists the server URLs without any user:password they hold.
func redactURLs(us []string) string {
	out := make([]string, len(us))
	for i, s := range us {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			u.User = nil
			s = u.String()
		}
		out[i] = s
	}
	return strings.Join(out, ", ")
}

// retryable tells a server that is not up yet from a configuration the server refuses.
func retryable(err error) bool {
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.Is(err, nats.ErrSecureConnWanted) || errors.Is(err, nats.ErrClientCertOrRootCAsRequired) {
		return false
	}
	s := strings.ToLower(err.Error())
	for _, fatal := range []string{"authorization", "authentication", "certificate", "x509", "tls:"} {
		if strings.Contains(s, fatal) {
			return false
		}
	}
	return true
}

// Secrets returns the resolved password and token (after Resolve), for the all-in-one
// mode's embedded server, which must demand what its clients present.
func (o *NATSOptions) Secrets() (password, token secret.Value) { return o.password, o.token }

// WithToken returns o (resolved) authenticating with token instead of whatever o says: for a
// server whose token was made up when it started (the all-in-one mode's client file).
func (o NATSOptions) WithToken(token secret.Value) NATSOptions {
	o.User, o.password, o.NKeySeedFile, o.CredsFile = "", secret.Value{}, "", ""
	o.token, o.resolved = token, true
	return o
}
