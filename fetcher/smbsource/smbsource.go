// Package smbsource is the fetcher's production source: it reads a Windows host's ADMIN$
// share over SMB 2/3 with github.com/cloudsoda/go-smb2 (Kerberos or NTLM, dialect
// negotiated, signing and encryption as the host requires). Every request carries a
// deadline, because a silent server otherwise hangs a read forever. With the encryption
// option "required" it checks on the wire (internal/smbwire) that the host encrypts the
// session, since go-smb2 does not say.
package smbsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/smbauth"
	"github.com/bsodwatch/bsodwatch/internal/smbwire"

	"github.com/cloudsoda/go-smb2"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Source dials hosts with the credentials of the fetcher's options.
type Source struct {
	o     fetcher.Options
	creds map[string]cred
	log   zerolog.Logger
}

type cred struct {
	domain, user string
	pass         secret.Value
	krb          *smbauth.Client // nil: no kerberos settings
}

// Option configures a Source.
type Option func(*Source)

// WithLogger sets the logger (Kerberos ticket events at debug level).
func WithLogger(l zerolog.Logger) Option { return func(s *Source) { s.log = l } }

var (
	_ fetcher.Source      = (*Source)(nil)
	_ fetcher.ExtraOpener = (*session)(nil)
)

// New resolves the credentials (password files, environment variables) once and loads the
// keytabs; Close releases the Kerberos identities.
func New(o fetcher.Options, opts ...Option) (*Source, error) {
	o = o.WithDefaults()
	s := &Source{o: o, creds: map[string]cred{}, log: zerolog.Nop()}
	for _, opt := range opts {
		opt(s)
	}
	for name, c := range o.Credentials {
		if c.User == "" {
			s.Close()
			return nil, fmt.Errorf("credentials %q: user is required", name)
		}
		pw, err := c.Resolve()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("credentials %q: %w", name, err)
		}
		d, u := smbauth.SplitUser(c.User)
		cr := cred{domain: d, user: u, pass: pw}
		if c.Kerberos != nil {
			if cr.krb, err = smbauth.NewClient(c.User, pw, *c.Kerberos, s.log.With().Str("credentials", name).Logger()); err != nil {
				s.Close()
				return nil, fmt.Errorf("credentials %q: %w", name, err)
			}
		}
		s.creds[name] = cr
	}
	return s, nil
}

// Kerberos returns the Kerberos identity of the named credentials, or nil.
func (s *Source) Kerberos(name string) *smbauth.Client { return s.creds[name].krb }

// Close ends the Kerberos identities' ticket renewal.
func (s *Source) Close() {
	for _, c := range s.creds {
		if c.krb != nil {
			c.krb.Destroy()
		}
	}
}

// Addr returns the host:port a host is dialed at.
func Addr(h fetcher.Host) string {
	a := h.Address
	if a == "" {
		a = h.Name
	}
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	port := h.Port
	if port == 0 {
		port = 445
	}
	return net.JoinHostPort(strings.Trim(a, "[]"), strconv.Itoa(port))
}

// Open implements fetcher.Source: one TCP connection, one session, one tree connect.
func (s *Source) Open(ctx context.Context, h fetcher.Host) (fetcher.Session, error) {
	return s.open(ctx, h)
}

func (s *Source) open(ctx context.Context, h fetcher.Host) (*session, error) {
	cn := h.Credentials
	if cn == "" {
		cn = s.o.DefaultCredentials
	}
	c, ok := s.creds[cn]
	if !ok {
		return nil, fmt.Errorf("%w: host %s: no credentials named %q", fetcher.ErrConfig, h.Name, cn)
	}
	addr := Addr(h)
	conn, sess, err := s.logon(ctx, h, c, addr)
	if err != nil {
		return nil, err
	}
	share := h.Share
	if share == "" {
		share = s.o.AdminShare
	}
	fsh, err := sess.WithContext(ctx).Mount(share)
	if err != nil {
		logoff(sess)
		conn.Close()
		return nil, classify(fmt.Errorf("mount %s on %s: %w", share, addr, err), err)
	}
	dir := strings.Trim(strings.ReplaceAll(h.Dir, "/", `\`), `\`)
	x := &session{src: s, host: h, addr: addr, conn: conn, sess: sess, fs: fsh, dir: dir, timeout: s.o.OpTimeout}
	if s.o.Encryption == fetcher.EncryptionRequired {
		if err := x.requireEncryption(ctx); err != nil {
			x.Close()
			return nil, err
		}
	}
	return x, nil
}

// requireEncryption checks that the host encrypts this session's traffic on the share: the
// answers to a probe (a stat of the host's root folder) must all have come encrypted, and
// from then on a message in clear ends the connection. (A host that encrypts only the share,
// not the session, sends the tree connect's answer in clear; that is why the probe comes
// after the mount.)
func (s *session) requireEncryption(ctx context.Context) error {
	sealed0, plain0 := s.conn.Counts()
	if _, err := s.fs.WithContext(ctx).Stat(s.remote("")); err != nil {
		return classify(fmt.Errorf("probe %s: %w", s.addr, err), err)
	}
	if sealed, plain := s.conn.Counts(); plain != plain0 || sealed == sealed0 {
		return fmt.Errorf("%s: %w, and encryption is required (the host must ask for it: on Windows Set-SmbServerConfiguration -EncryptData $true)", s.addr, fetcher.ErrUnencrypted)
	}
	s.conn.Require()
	return nil
}

// logon dials addr and logs on as the host's auth says: Kerberos, NTLM, or negotiate
// (Kerberos when the credential has it, NTLM when Kerberos cannot start and there is a
// password).
func (s *Source) logon(ctx context.Context, h fetcher.Host, c cred, addr string) (*smbwire.Conn, *smb2.Session, error) {
	auth := h.Auth
	if auth == "" {
		auth = s.o.Auth
	}
	if auth == "" {
		auth = smbauth.AuthNegotiate
	}
	switch {
	case auth == smbauth.AuthNTLM || (auth == smbauth.AuthNegotiate && c.krb == nil):
		if c.pass.IsZero() {
			return nil, nil, fmt.Errorf("%w: host %s: NTLM needs a password, and its credentials have none", fetcher.ErrConfig, h.Name)
		}
		return s.dial(ctx, addr, smbauth.Dialer(c.domain, c.user, c.pass, s.o.RequireSigning), nil, c.pass)
	case c.krb == nil:
		return nil, nil, fmt.Errorf("%w: host %s: auth kerberos, but its credentials have no kerberos settings", fetcher.ErrConfig, h.Name)
	}
	conn, sess, kerr := s.kerberos(ctx, h, c, addr)
	if kerr == nil || auth == smbauth.AuthKerberos || c.pass.IsZero() || !fallback(kerr) {
		return conn, sess, kerr
	}
	conn, sess, nerr := s.dial(ctx, addr, smbauth.Dialer(c.domain, c.user, c.pass, s.o.RequireSigning), nil, c.pass)
	if nerr != nil {
		return nil, nil, fmt.Errorf("%w; NTLM fallback: %s", kerr, nerr)
	}
	s.log.Debug().Str("host", h.Name).Err(kerr).Msg("Kerberos could not start; logged on with NTLM")
	return conn, sess, nil
}

// fallback says whether negotiate may try NTLM after this Kerberos error: only when no
// Kerberos exchange with the host took place (no SPN, no KDC).
func fallback(err error) bool {
	return errors.Is(err, fetcher.ErrUnknownPrincipal) || errors.Is(err, fetcher.ErrKDCUnreachable)
}

func (s *Source) kerberos(ctx context.Context, h fetcher.Host, c cred, addr string) (*smbwire.Conn, *smb2.Session, error) {
	spn, err := smbauth.SPN("cifs", spnHost(h))
	if err != nil {
		return nil, nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	if err := c.krb.Ticket(spn); err != nil {
		return nil, nil, fmt.Errorf("host %s: %w", h.Name, err)
	}
	ini := c.krb.Initiator(spn)
	d := &smb2.Dialer{Negotiator: smb2.Negotiator{RequireMessageSigning: s.o.RequireSigning}, Initiator: ini}
	return s.dial(ctx, addr, d, ini, c.pass)
}

// spnHost is the name the SPN is built from: the address when it is a name, else the
// host's name (an IP address there makes smbauth.SPN refuse).
func spnHost(h fetcher.Host) string {
	a := h.Address
	if host, _, err := net.SplitHostPort(a); err == nil {
		a = host
	}
	if a != "" && net.ParseIP(strings.Trim(a, "[]")) == nil {
		return a
	}
	return h.Name
}

// dial connects and sets up the session; ini, when set, holds the Kerberos error with its
// chain (go-smb2 keeps only its text).
func (s *Source) dial(ctx context.Context, addr string, d *smb2.Dialer, ini *smbauth.Initiator, pass secret.Value) (*smbwire.Conn, *smb2.Session, error) {
	tcp, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", fetcher.ErrOffline, err)
	}
	conn := smbwire.Watch(tcp)
	sess, err := d.DialConn(ctx, conn, addr)
	if err != nil {
		conn.Close()
		if ini != nil && ini.Err() != nil {
			return nil, nil, fmt.Errorf("session %s: %w", addr, ini.Err())
		}
		return nil, nil, classify(fmt.Errorf("session %s: %s", addr, secret.Redact(err.Error(), pass)), err)
	}
	return conn, sess, nil
}

func logoff(s *smb2.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.WithContext(ctx).Logoff()
}

// NTSTATUS codes that say something about the host's state.
const (
	statusAccessDenied      = 0xC0000022
	statusLogonFailure      = 0xC000006D
	statusAccountRestrict   = 0xC000006E
	statusPasswordExpired   = 0xC0000071
	statusAccountDisabled   = 0xC0000072
	statusAccountLockedOut  = 0xC0000234
	statusBadNetworkName    = 0xC00000CC
	statusNetworkAccessDeny = 0xC00000CA
	statusNTLMBlocked       = 0xC0000418
	statusTimeDifference    = 0xC0000133 // STATUS_TIME_DIFFERENCE_AT_DC
)

// status returns the NTSTATUS orig carries: a ResponseError's code, or one of codes named in
// the text go-smb2 makes of a session setup's first answer ("expected status ..., got X").
func status(orig error, codes ...uint32) (uint32, bool) {
	var re *smb2.ResponseError
	if errors.As(orig, &re) {
		return re.Code, true
	}
	var ie *smb2.InvalidResponseError
	if errors.As(orig, &ie) {
		for _, c := range codes {
			desc := strings.TrimPrefix((&smb2.ResponseError{Code: c}).Error(), "response error: ")
			if desc != "" && strings.HasSuffix(ie.Message, "got "+desc) {
				return c, true
			}
		}
	}
	return 0, false
}

// classify wraps err with the fetcher's sentinel for what orig says (orig is the library's
// error; err may be a redacted copy of it).
func classify(err, orig error) error {
	if code, ok := status(orig, statusNTLMBlocked, statusLogonFailure, statusAccountRestrict, statusPasswordExpired,
		statusAccountDisabled, statusAccountLockedOut, statusAccessDenied, statusTimeDifference); ok {
		switch code {
		case statusNTLMBlocked:
			return fmt.Errorf("%w (%w)", fetcher.ErrNTLMBlocked, err)
		case statusTimeDifference:
			return fmt.Errorf("%w (%w)", fetcher.ErrClockSkew, err)
		case statusLogonFailure, statusAccountRestrict, statusPasswordExpired, statusAccountDisabled, statusAccountLockedOut:
			return fmt.Errorf("%w: %w", fetcher.ErrAuth, err)
		case statusAccessDenied, statusNetworkAccessDeny:
			return fmt.Errorf("%w: %w", fetcher.ErrDenied, err)
		case statusBadNetworkName:
			return fmt.Errorf("%w: %w", fetcher.ErrNoShare, err)
		}
	}
	if errors.Is(orig, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", fetcher.ErrTimeout, err)
	}
	if te := (*smb2.TransportError)(nil); errors.As(orig, &te) {
		if errors.Is(te.Err, smbwire.ErrPlaintext) { // the host dropped encryption mid-session
			return fmt.Errorf("%w: %w", fetcher.ErrUnencrypted, err)
		}
		return fmt.Errorf("%w: %w", fetcher.ErrOffline, err)
	}
	if ne := net.Error(nil); errors.As(orig, &ne) {
		return fmt.Errorf("%w: %w", fetcher.ErrOffline, err)
	}
	if errors.Is(orig, fs.ErrPermission) {
		return fmt.Errorf("%w: %w", fetcher.ErrDenied, err)
	}
	return err
}

type session struct {
	src     *Source
	host    fetcher.Host
	addr    string
	conn    *smbwire.Conn
	sess    *smb2.Session
	fs      *smb2.Share
	dir     string
	timeout time.Duration
}

// remote maps a '/'-separated path to the share's form: backslashes, no leading separator.
func (s *session) remote(p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	switch {
	case s.dir == "":
		return p
	case p == "":
		return s.dir
	}
	return s.dir + `\` + p
}

func (s *session) ReadDir(ctx context.Context, dir string) ([]fetcher.Entry, error) {
	fis, err := s.fs.WithContext(ctx).ReadDir(s.remote(dir))
	if err != nil {
		return nil, classify(err, err)
	}
	out := make([]fetcher.Entry, 0, len(fis))
	for _, fi := range fis {
		out = append(out, fetcher.Entry{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), Dir: fi.IsDir()})
	}
	return out, nil
}

func (s *session) Stat(ctx context.Context, p string) (fetcher.Entry, error) {
	fi, err := s.fs.WithContext(ctx).Stat(s.remote(p))
	if err != nil {
		return fetcher.Entry{}, classify(err, err)
	}
	return fetcher.Entry{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), Dir: fi.IsDir()}, nil
}

// Open binds the file to ctx: its reads end when ctx does.
func (s *session) Open(ctx context.Context, p string) (fetcher.File, error) {
	f, err := s.fs.WithContext(ctx).Open(s.remote(p))
	if err != nil {
		return nil, classify(err, err)
	}
	return f, nil
}

// OpenExtra implements fetcher.ExtraOpener: n more sessions to the same host, dialed at
// once, each bounded by the op timeout, each with the file open and bound to ctx.
func (s *session) OpenExtra(ctx context.Context, p string, n int) ([]fetcher.File, error) {
	type res struct {
		f   fetcher.File
		err error
	}
	out := make(chan res, n)
	for range n {
		go func() {
			f, err := s.openExtra(ctx, p)
			out <- res{f, err}
		}()
	}
	var files []fetcher.File
	var errs []error
	for range n {
		r := <-out
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		files = append(files, r.f)
	}
	return files, errors.Join(errs...)
}

func (s *session) openExtra(ctx context.Context, p string) (fetcher.File, error) {
	// The file's reads are bound to fctx, a child of ctx that a timer cancels if dialing,
	// logon, tree connect and open together take longer than the op timeout.
	fctx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(s.timeout, func() { cancel(fmt.Errorf("%w: extra session", fetcher.ErrTimeout)) })
	x, err := s.src.open(fctx, s.host)
	if err != nil {
		t.Stop()
		cancel(nil)
		return nil, err
	}
	f, err := x.fs.WithContext(fctx).Open(x.remote(p))
	if !t.Stop() && err == nil {
		err = context.Cause(fctx)
	}
	if err != nil {
		x.Close()
		cancel(nil)
		return nil, classify(err, err)
	}
	return &extraFile{File: f, sess: x, cancel: cancel}, nil
}

// extraFile is a file open on a session of its own; closing it ends the session.
type extraFile struct {
	*smb2.File
	sess   *session
	cancel context.CancelCauseFunc
}

func (f *extraFile) Close() error {
	err := f.File.Close()
	f.sess.Close()
	f.cancel(nil)
	return err
}

// Close ends the tree connect, the session and the connection, each bounded.
func (s *session) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), min(s.timeout, 5*time.Second))
	defer cancel()
	s.fs.WithContext(ctx).Umount()
	s.sess.WithContext(ctx).Logoff()
	return s.conn.Close()
}

var _ fetcher.EventLogOpener = (*session)(nil)

// OpenEventLog implements fetcher.EventLogOpener. go-smb2's Share.Open asks for
// GENERIC_READ with share access FILE_SHARE_READ|FILE_SHARE_WRITE and no oplock: the
// share mode readers of a live .evtx need (pysmb, impacket and osquery got
// STATUS_SHARING_VIOLATION until they shared write), and no cached, stale data. The size
// comes from the open handle (FileStandardInformation), not the directory entry.
func (s *session) OpenEventLog(ctx context.Context, name string) (fetcher.LogFile, error) {
	p := strings.Trim(strings.ReplaceAll(name, `\`, "/"), "/")
	if !fs.ValidPath(p) {
		return nil, fmt.Errorf("%w: event log path %q", fetcher.ErrConfig, name)
	}
	f, err := s.fs.WithContext(ctx).Open(s.remote(p))
	if err != nil {
		return nil, classify(err, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, classify(err, err)
	}
	return &logFile{File: f, size: fi.Size()}, nil
}

type logFile struct {
	*smb2.File
	size int64
}

func (f *logFile) Size() int64 { return f.size }
