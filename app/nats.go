package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
	"github.com/bsodwatch/bsodwatch/secret"
)

// clientFile is where `bsodwatch run` leaves the address (and, when it made one up, the
// token) of its embedded server, so that `results`, `submit` and `reanalyze` on the same
// machine reach it with no flags. It lives in the NATS store, readable by its owner only.
const clientFile = "client.json"

// embeddedClient is the content of clientFile.
type embeddedClient struct {
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
}

// startEmbedded starts the all-in-one mode's server. Without nats.embedded.listen it still
// listens, on a free loopback port, and then demands a token made up for this run (unless
// the config sets user/password or a token), so that only processes that can read the
// client file (the same user) get in. It returns where it serves, for the summary.
func startEmbedded(c *config.Config) (*embedded.Server, string, error) {
	if err := c.NATS.Resolve(); err != nil {
		return nil, "", placed(c, "nats", err)
	}
	pw, token := c.NATS.Secrets()
	store := c.StoreDir()
	listen, madeToken := c.NATS.Embedded.Listen, false
	if listen == "" {
		listen = "127.0.0.1:0"
		if c.NATS.User == "" && token.IsZero() {
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				return nil, "", fmt.Errorf("embedded nats token: %w", err)
			}
			token, madeToken = secret.New(hex.EncodeToString(b)), true
		}
	}
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, "", fmt.Errorf("embedded nats store: %w", err)
	}
	srv, err := embedded.Start(embedded.Options{
		StoreDir: store, Listen: listen, ServerName: "bsodwatch",
		User: c.NATS.User, Password: pw, Token: token,
	})
	if err != nil {
		return nil, "", err
	}
	cl := embeddedClient{URL: srv.ClientURL()}
	if madeToken {
		cl.Token = token.Reveal()
	}
	if err := writeClientFile(filepath.Join(store, clientFile), cl); err != nil {
		srv.Shutdown()
		return nil, "", err
	}
	where := "embedded, listening on " + cl.URL
	if c.NATS.Embedded.Listen == "" {
		where = "embedded, on loopback " + cl.URL + " for bsodwatch commands of this user"
	}
	return srv, where + ", store " + store, nil
}

func writeClientFile(path string, cl embeddedClient) error {
	b, err := json.Marshal(cl)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("embedded nats client file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("embedded nats client file: %w", err)
	}
	return nil
}

// Conn is a connection of a command a person runs (results, submit, reanalyze).
type Conn struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// Close drains the connection; nothing is logged for it.
func (c *Conn) Close() { drain(c.NC) }

// Dial connects a command to NATS the way the configuration says: nats.urls with its
// authentication and TLS, else the embedded server of a `bsodwatch run` of the same data
// directory. It tries once and says at once when nothing answers. The streams are created
// when missing, with the configured retention; existing ones are left as they are.
func Dial(ctx context.Context, c *config.Config, name string, log zerolog.Logger) (*Conn, error) {
	if err := c.NATS.Resolve(); err != nil {
		return nil, placed(c, "nats", err)
	}
	o := c.NATS.NATSOptions
	o.Name = "bsodwatch-" + name
	hint := "is `bsodwatch run` started with --nats.listen, or nats.urls right?"
	if len(o.URLs) == 0 {
		cl, err := readClientFile(filepath.Join(c.StoreDir(), clientFile))
		if err != nil {
			return nil, usage("no NATS server: set nats.urls in the config (--config), --nats URL or $BSODWATCH_NATS_URL, or start `bsodwatch run` (none has run with data directory %s)", c.DataDir)
		}
		o.URLs = []string{cl.URL}
		if cl.Token != "" {
			o = o.WithToken(secret.New(cl.Token))
		}
		hint = "is `bsodwatch run` (data directory " + c.DataDir + ") still running?"
	}
	nc, err := pipeline.Dial(ctx, o, log)
	var ns *pipeline.NoServerError
	if errors.As(err, &ns) {
		return nil, fmt.Errorf("%w: %s", err, hint)
	}
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	so := StreamOptions(c)
	so.CreateOnly = true
	if err := pipeline.EnsureStreams(ctx, js, so); err != nil {
		nc.Close()
		return nil, err
	}
	return &Conn{NC: nc, JS: js}, nil
}

func readClientFile(path string) (embeddedClient, error) {
	var cl embeddedClient
	b, err := os.ReadFile(path)
	if err != nil {
		return cl, err
	}
	if err := json.Unmarshal(b, &cl); err != nil || cl.URL == "" {
		return cl, fmt.Errorf("%s: not a client file", path)
	}
	return cl, nil
}

// placed is a section's problems as a usage error at the configuration file's lines.
func placed(c *config.Config, section string, err error) error {
	var ps optcheck.Problems
	ps.Add(section, err)
	return UsageError{c.Place(ps.Err())}
}
