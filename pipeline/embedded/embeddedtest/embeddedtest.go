// Package embeddedtest starts the real in-process NATS server for tests, with bsodwatch's
// streams created, so that every package tests against the same setup.
package embeddedtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
)

// Queue is a running server with one client connection.
type Queue struct {
	Server *embedded.Server
	NC     *nats.Conn
	JS     jetstream.JetStream
	// URL is where other processes (and commands under test) connect; "" for Start's
	// in-process server.
	URL string
}

// Start runs an in-process server storing under storeDir (a fresh temporary directory when
// empty), creates the streams and registers the cleanup with t.
func Start(t testing.TB, storeDir string) *Queue {
	t.Helper()
	return start(t, embedded.Options{StoreDir: storeDir})
}

// Listen is Start with the server also on a free loopback port (Queue.URL), as a role or a
// command in another process meets one.
func Listen(t testing.TB) *Queue {
	t.Helper()
	return start(t, embedded.Options{Listen: "127.0.0.1:0"})
}

func start(t testing.TB, o embedded.Options) *Queue {
	t.Helper()
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	srv, err := embedded.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pipeline.EnsureStreams(ctx, js, pipeline.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return &Queue{Server: srv, NC: nc, JS: js, URL: srv.ClientURL()}
}

// Server runs a plain nats-server on a free loopback port with the options mod sets (users,
// tokens, JetStream), for tests of how clients reach a server configured like a site's.
func Server(t testing.TB, mod func(*server.Options)) *server.Server {
	t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	if mod != nil {
		mod(o)
	}
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// PublishResults stores rs on the results stream (asynchronously, waiting for every ack).
func PublishResults(t testing.TB, js jetstream.JetStream, rs []*pipeline.Result) {
	t.Helper()
	for _, r := range rs {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishAsync(pipeline.ResultSubject(r.Job.ID), data); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(120 * time.Second):
		t.Fatal("publish did not complete")
	}
}
