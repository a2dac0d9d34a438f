// Package embedded runs a NATS server with JetStream inside the bsodwatch process: the
// all-in-one mode's queue, and the real server that tests run against (alone, or three of
// them as a JetStream cluster).
package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/bsodwatch/bsodwatch/secret"
)

// Options configure the embedded server.
type Options struct {
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// Listen, when set ("127.0.0.1:4222"), also serves other processes over TCP; otherwise
	// the server is reachable only in-process.
	Listen string
	// ServerName names the server (needed for clustering); default "bsodwatch".
	ServerName string

	// User and Password, or Token, are required from clients when set (in-process clients
	// made by Connect present them themselves).
	User     string
	Password secret.Value
	Token    secret.Value

	// ClusterName, ClusterListen and Routes make the server one node of a JetStream cluster:
	// ClusterListen is this node's route address, Routes the route addresses of every node
	// (this one may be included).
	ClusterName   string
	ClusterListen string
	Routes        []string
}

// Server is a running embedded NATS server.
type Server struct {
	NS   *server.Server
	opts Options
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embedded nats: store directory is required")
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      true,
	}
	if opts.ServerName == "" {
		opts.ServerName = "bsodwatch"
	}
	if o.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	switch {
	case o.User != "" && !o.Token.IsZero():
		return nil, errors.New("embedded nats: set user/password or token, not both")
	case o.User != "":
		opts.Username, opts.Password = o.User, o.Password.Reveal()
	case !o.Token.IsZero():
		opts.Authorization = o.Token.Reveal()
	}
	if o.ClusterListen != "" {
		if o.ClusterName == "" {
			return nil, errors.New("embedded nats: a cluster needs a name")
		}
		host, port, err := splitHostPort(o.ClusterListen)
		if err != nil {
			return nil, err
		}
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: host, Port: port}
		for _, r := range o.Routes {
			u, err := url.Parse("nats-route://" + r)
			if err != nil {
				return nil, fmt.Errorf("embedded nats: bad route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return &Server{NS: ns, opts: o}, nil
}

// Connect opens a client connection to the server, in-process when it does not listen.
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{nats.Name(name), nats.InProcessServer(s.NS), nats.MaxReconnects(-1)}
	switch {
	case s.opts.User != "":
		base = append(base, nats.UserInfo(s.opts.User, s.opts.Password.Reveal()))
	case !s.opts.Token.IsZero():
		base = append(base, nats.Token(s.opts.Token.Reveal()))
	}
	nc, err := nats.Connect("", append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// ClientURL is the nats:// URL other processes connect to, or "" when the server does not
// listen on TCP.
func (s *Server) ClientURL() string {
	if s.opts.Listen == "" {
		return ""
	}
	addr := s.NS.Addr()
	if addr == nil {
		return ""
	}
	return "nats://" + addr.String()
}

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.NS.Shutdown()
	s.NS.WaitForShutdown()
}

// FreePorts returns n loopback TCP ports that were free a moment ago; for clusters, whose
// nodes must know each other's addresses before they start.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("embedded nats: find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ClusterNode describes one node of a loopback cluster made by ClusterOptions.
type ClusterNode struct {
	Options
	ClientURL string
}

// ClusterOptions lays out an n-node JetStream cluster on loopback ports, one store
// directory per node under dir(i). Start each node with Start(nodes[i].Options); a stopped
// node can be started again with the same options and rejoins.
func ClusterOptions(name string, n int, dir func(i int) string) ([]ClusterNode, error) {
	ports, err := FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	routes := make([]string, n)
	for i := range n {
		routes[i] = "127.0.0.1:" + strconv.Itoa(ports[n+i])
	}
	nodes := make([]ClusterNode, n)
	for i := range n {
		client := "127.0.0.1:" + strconv.Itoa(ports[i])
		nodes[i] = ClusterNode{
			Options: Options{
				StoreDir:      dir(i),
				Listen:        client,
				ServerName:    fmt.Sprintf("%s-%d", name, i+1),
				ClusterName:   name,
				ClusterListen: routes[i],
				Routes:        routes,
			},
			ClientURL: "nats://" + client,
		}
	}
	return nodes, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("embedded nats: bad listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("embedded nats: bad port in %q", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default port, 4222
	}
	return host, port, nil
}
