package pipeline_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/internal/testlog"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

const testPassword = "Very-Secret-Pass-42"

// startServer runs a nats-server on a loopback port with the given options changed.
func startServer(t *testing.T, port int, mod func(*server.Options)) *server.Server {
	t.Helper()
	return embeddedtest.Server(t, func(o *server.Options) {
		o.Port = port
		if mod != nil {
			mod(o)
		}
	})
}

func TestConnectAuth(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	userSrv := startServer(t, -1, func(o *server.Options) { o.Username, o.Password = "bsw", testPassword })
	tokenSrv := startServer(t, -1, func(o *server.Options) { o.Authorization = testPassword })
	t.Setenv("BSW_TEST_TOKEN", testPassword)

	tests := []struct {
		name    string
		o       pipeline.NATSOptions
		wantErr string
	}{
		{"password file", pipeline.NATSOptions{URLs: []string{userSrv.ClientURL()}, User: "bsw", PasswordFile: pwFile}, ""},
		{"inline password", pipeline.NATSOptions{URLs: []string{userSrv.ClientURL()}, User: "bsw", Password: testPassword}, ""},
		{"wrong password", pipeline.NATSOptions{URLs: []string{userSrv.ClientURL()}, User: "bsw", Password: testPassword + "x"}, "authorization violation (the server refused the user, password"},
		{"no credentials", pipeline.NATSOptions{URLs: []string{userSrv.ClientURL()}}, "authorization"},
		{"token env", pipeline.NATSOptions{URLs: []string{tokenSrv.ClientURL()}, TokenEnv: "BSW_TEST_TOKEN"}, ""},
		{"token missing env", pipeline.NATSOptions{URLs: []string{tokenSrv.ClientURL()}, TokenEnv: "BSW_TEST_NOPE"}, "not set"},
		{"user without password", pipeline.NATSOptions{URLs: []string{userSrv.ClientURL()}, User: "bsw"}, "user: \"bsw\" needs a password"},
		{"missing creds file", pipeline.NATSOptions{URLs: []string{userSrv.ClientURL()}, CredsFile: filepath.Join(dir, "none.creds")}, "creds_file"},
		{"no urls", pipeline.NATSOptions{}, "no nats server urls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A refused login must fail at once, not be retried until the deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var logs testlog.Buffer
			start := time.Now()
			nc, err := pipeline.Connect(ctx, tc.o, zerolog.New(&logs))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				if !nc.IsConnected() {
					t.Fatal("not connected")
				}
			} else {
				if err == nil {
					nc.Close()
					t.Fatalf("connected, want error %q", tc.wantErr)
				}
				if !strings.Contains(strings.ToLower(err.Error()), tc.wantErr) || strings.Contains(err.Error(), ": nats: ") {
					t.Errorf("error %q, want %q (said once)", err, tc.wantErr)
				}
				if time.Since(start) > 10*time.Second {
					t.Errorf("took %v: a configuration error was retried", time.Since(start))
				}
			}
			for _, s := range []string{logs.String(), errString(err)} {
				if strings.Contains(s, testPassword) {
					t.Errorf("secret leaked: %s", s)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestConnectWaitsForServer starts the role before its server: Connect keeps trying and
// succeeds once the server is up; the connection then survives a server restart.
func TestConnectWaitsForServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs testlog.Buffer
	type res struct {
		err error
		ok  bool
	}
	done := make(chan res, 1)
	connected := make(chan *serverConn, 1)
	go func() {
		nc, err := pipeline.Connect(ctx, pipeline.NATSOptions{URLs: []string{"nats://127.0.0.1:" + itoa(port)}}, zerolog.New(&logs))
		if err == nil {
			connected <- &serverConn{nc}
		}
		done <- res{err, err == nil}
	}()
	// Wait until Connect has failed at least once, then start the server.
	for !strings.Contains(logs.String(), "nats not reachable yet") {
		select {
		case r := <-done:
			t.Fatalf("Connect returned before the server started: %+v", r)
		case <-time.After(50 * time.Millisecond):
		}
	}
	s := startServer(t, port, nil)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	nc := (<-connected).nc
	defer nc.Close()

	s.Shutdown()
	s.WaitForShutdown()
	startServer(t, port, nil)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "nats reconnected") {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect after the server restart; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "nats disconnected") {
		t.Error("disconnect not logged")
	}
	if err := nc.Publish("x", []byte("y")); err != nil {
		t.Errorf("publish after reconnect: %v", err)
	}
}

func TestConnectGivesUpWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := pipeline.Connect(ctx, pipeline.NATSOptions{URLs: []string{"nats://127.0.0.1:1"}}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("error %v, want the context's deadline", err)
	}
}

func TestConnectTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "test CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := newCert(t, ca, caKey, "bsodwatch-client", false)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", cliCert.Raw)
	keyFile := writePEM(t, dir, "client.key", "EC PRIVATE KEY", marshalKey(t, cliKey))

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := startServer(t, -1, func(o *server.Options) {
		o.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		}
		o.TLS, o.TLSVerify = true, true
	})
	url := strings.Replace(srv.ClientURL(), "nats://", "tls://", 1)
	tests := []struct {
		name    string
		tls     pipeline.TLSOptions
		wantErr bool
	}{
		{"mutual TLS", pipeline.TLSOptions{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, false},
		{"no client certificate", pipeline.TLSOptions{CAFile: caFile}, true},
		{"unknown CA", pipeline.TLSOptions{CertFile: certFile, KeyFile: keyFile}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			nc, err := pipeline.Connect(ctx, pipeline.NATSOptions{URLs: []string{url}, TLS: tc.tls}, zerolog.Nop())
			if tc.wantErr {
				if err == nil {
					nc.Close()
					t.Fatal("connected")
				}
				if ctx.Err() != nil {
					t.Errorf("TLS failure was retried until the deadline: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			nc.Close()
		})
	}
}

type serverConn struct{ nc *nats.Conn }

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if !isCA {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
