// Package ldapinv is the fetcher's Active Directory inventory: it reads computer objects from
// a domain controller over LDAPS or StartTLS (simple or Kerberos GSSAPI bind, with
// github.com/go-ldap/ldap/v3), with a paged search so that no server-side size limit cuts
// the list, turns each object's dNSHostName into a host with tags from its OU, groups and
// attributes, and re-reads the directory every refresh interval. A failed read keeps the
// last good list.
package ldapinv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldap/v3/gssapi"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Bind is how the inventory authenticates to the directory.
type Bind struct {
	// Method is fetcher.BindSimple or fetcher.BindGSSAPI.
	Method string
	// User and Password are for a simple bind: "user@corp.example", "CORP\user" or a DN.
	User     string
	Password secret.Value
	// Kerberos is the identity of a GSSAPI bind (the one SMB uses too).
	Kerberos *smbauth.Client
}

// Stats describe the last successful read.
type Stats struct {
	URL     string    `json:"url"`
	At      time.Time `json:"at"`
	Entries int       `json:"entries"` // objects the search returned
	Hosts   int       `json:"hosts"`
	Skipped int       `json:"skipped"` // objects without a usable dNSHostName
	// Pages is how many search requests the paged search took; PageSizes their entry
	// counts. Paged says whether the server answered with the paged-results control.
	Pages     int   `json:"pages"`
	PageSizes []int `json:"page_sizes"`
	Paged     bool  `json:"paged"`
}

// Inventory implements fetcher.Inventory from a directory. Safe for concurrent use.
type Inventory struct {
	o    fetcher.LDAPOptions
	bind Bind
	tls  *tls.Config
	log  zerolog.Logger
	now  func() time.Time

	mu    sync.Mutex
	hosts []fetcher.Host
	stats Stats
	read  bool
}

var _ fetcher.Inventory = (*Inventory)(nil)

// New checks the options (Validate, and TLS for any bind) and loads the CA file; it does not
// contact the directory yet.
func New(o fetcher.LDAPOptions, b Bind, log zerolog.Logger) (*Inventory, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := fetcher.PlainLDAPRefused(o, b.Method); err != nil {
		return nil, err
	}
	switch {
	case b.Method == fetcher.BindGSSAPI && b.Kerberos == nil:
		return nil, errors.New("ldap: gssapi bind without a Kerberos identity")
	case b.Method == fetcher.BindSimple && (b.User == "" || b.Password.IsZero()):
		return nil, errors.New("ldap: simple bind needs a user and a password (an empty password would be an unauthenticated bind)")
	case b.Method != fetcher.BindGSSAPI && b.Method != fetcher.BindSimple:
		return nil, fmt.Errorf("ldap: bind %q: want simple or gssapi", b.Method)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap.ca_file: %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	return &Inventory{o: o.WithDefaults(), bind: b, tls: tc, log: log.With().Str("component", "ldap").Logger(), now: time.Now}, nil
}

// Hosts implements fetcher.Inventory: the cached list while it is younger than the refresh
// interval, else a new read. A failed read returns the last good list with the error (and
// is retried on the next call).
func (inv *Inventory) Hosts(ctx context.Context) ([]fetcher.Host, error) {
	inv.mu.Lock()
	fresh := inv.read && inv.now().Sub(inv.stats.At) < inv.o.Refresh
	hosts := inv.hosts
	inv.mu.Unlock()
	if fresh {
		return hosts, nil
	}
	return inv.Refresh(ctx)
}

// Refresh reads the directory now.
func (inv *Inventory) Refresh(ctx context.Context) ([]fetcher.Host, error) {
	hosts, st, err := inv.readAll(ctx)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if err != nil {
		if inv.read {
			return inv.hosts, fmt.Errorf("%w (keeping the %d hosts read at %s)", err, len(inv.hosts), inv.stats.At.Format(time.RFC3339))
		}
		return nil, err
	}
	inv.hosts, inv.stats, inv.read = hosts, st, true
	inv.log.Info().Str("url", st.URL).Int("hosts", st.Hosts).Int("skipped", st.Skipped).Int("pages", st.Pages).Msg("read hosts from the directory")
	return hosts, nil
}

// Stats returns the figures of the last successful read.
func (inv *Inventory) Stats() Stats {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	st := inv.stats
	st.PageSizes = append([]int(nil), st.PageSizes...)
	return st
}

// readAll tries each URL in turn.
func (inv *Inventory) readAll(ctx context.Context) ([]fetcher.Host, Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, inv.o.Timeout)
	defer cancel()
	var errs []error
	for _, u := range inv.o.URLs {
		hosts, st, err := inv.readURL(ctx, u)
		if err == nil {
			return hosts, st, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, fetcher.ErrOffline) {
			break // another DC of the same domain would answer the same
		}
	}
	if len(errs) == 1 {
		return nil, Stats{}, errs[0]
	}
	return nil, Stats{}, fmt.Errorf("%w: ldap: no domain controller answered: %s", fetcher.ErrOffline, joinLine(errs))
}

func (inv *Inventory) readURL(ctx context.Context, raw string) ([]fetcher.Host, Stats, error) {
	st := Stats{URL: raw}
	conn, host, err := inv.dial(ctx, raw)
	if err != nil {
		return nil, st, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := inv.doBind(conn, host); err != nil {
		return nil, st, err
	}
	attrs := []string{"dNSHostName"}
	for _, t := range inv.o.Tags {
		switch {
		case t.Group != "":
			attrs = append(attrs, "memberOf")
		case t.Attribute != "":
			attrs = append(attrs, t.Attribute)
		}
	}
	seen := map[string]bool{}
	var hosts []fetcher.Host
	for _, base := range inv.o.BaseDNs {
		entries, err := inv.search(ctx, conn, base, attrs, &st)
		if err != nil {
			return nil, st, err
		}
		for _, e := range entries {
			st.Entries++
			h, ok := inv.host(e)
			if !ok {
				st.Skipped++
				continue
			}
			if seen[h.Name] {
				continue
			}
			seen[h.Name] = true
			hosts = append(hosts, h)
		}
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	st.Hosts, st.At = len(hosts), inv.now()
	if hosts == nil {
		hosts = []fetcher.Host{}
	}
	return hosts, st, nil
}

// dial connects (TLS for ldaps://, StartTLS for ldap://) within ctx.
func (inv *Inventory) dial(ctx context.Context, raw string) (*ldap.Conn, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("%w: ldap url %q: %w", fetcher.ErrConfig, raw, err)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"ldaps": "636", "ldap": "389"}[u.Scheme]
	}
	addr := net.JoinHostPort(host, port)
	tc := inv.tls.Clone()
	tc.ServerName = host
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("%w: ldap %s: %w", fetcher.ErrOffline, raw, err)
	}
	isTLS := u.Scheme == "ldaps"
	if isTLS {
		tcn := tls.Client(c, tc)
		if err := tcn.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, "", tlsError(raw, err)
		}
		c = tcn
	}
	conn := ldap.NewConn(c, isTLS)
	conn.Start()
	conn.SetTimeout(inv.o.Timeout)
	if inv.o.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			return nil, "", tlsError(raw, err)
		}
	}
	if _, ok := conn.TLSConnectionState(); !ok {
		conn.Close()
		return nil, "", fmt.Errorf("%w: ldap %s: the connection is not encrypted", fetcher.ErrConfig, raw)
	}
	return conn, host, nil
}

func tlsError(raw string, err error) error {
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ue) || errors.As(err, &he) || errors.As(err, &ce) {
		return fmt.Errorf("%w: ldap %s: the domain controller's certificate is not trusted (ldap.ca_file?): %w", fetcher.ErrConfig, raw, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
		return fmt.Errorf("%w: ldap %s: TLS: %w", fetcher.ErrOffline, raw, err)
	}
	return fmt.Errorf("%w: ldap %s: TLS: %w", fetcher.ErrConfig, raw, err)
}

func (inv *Inventory) doBind(conn *ldap.Conn, host string) error {
	switch inv.bind.Method {
	case fetcher.BindGSSAPI:
		spn, err := smbauth.SPN("ldap", host)
		if err != nil {
			return err
		}
		if err := inv.bind.Kerberos.Ticket(spn); err != nil {
			return fmt.Errorf("ldap gssapi bind to %s: %w", host, err)
		}
		// The shared client is not closed here: gssapi.Client.Close would destroy it.
		gc := &gssapi.Client{Client: inv.bind.Kerberos.Krb5()}
		if err := conn.GSSAPIBind(gc, spn, ""); err != nil {
			return bindError(host, inv.bind.Kerberos.Principal(), err)
		}
	default:
		if err := conn.Bind(inv.bind.User, inv.bind.Password.Reveal()); err != nil {
			return bindError(host, inv.bind.User, err)
		}
	}
	return nil
}

func bindError(host, who string, err error) error {
	msg := secretFree(err)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return fmt.Errorf("%w: ldap bind to %s as %s: invalid credentials", fetcher.ErrAuth, host, who)
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) {
		return fmt.Errorf("%w: ldap bind to %s as %s: the server requires stronger authentication (%s)", fetcher.ErrAuth, host, who, msg)
	}
	var ne net.Error
	if errors.As(err, &ne) || ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
		return fmt.Errorf("%w: ldap bind to %s: %s", fetcher.ErrOffline, host, msg)
	}
	return fmt.Errorf("%w: ldap bind to %s as %s: %s", fetcher.ErrAuth, host, who, msg)
}

// secretFree is an LDAP error's text: go-ldap's errors never hold the password.
func secretFree(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// search runs one paged search, counting pages in st.
func (inv *Inventory) search(ctx context.Context, conn *ldap.Conn, base string, attrs []string, st *Stats) ([]*ldap.Entry, error) {
	paging := ldap.NewControlPaging(uint32(inv.o.PageSize))
	limit := max(1, int(inv.o.Timeout/time.Second))
	var out []*ldap.Entry
	for {
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, limit, false,
			inv.o.Filter, attrs, []ldap.Control{paging})
		res, err := conn.Search(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: ldap search %s: %w", fetcher.ErrTimeout, base, ctx.Err())
			}
			return nil, searchError(base, inv.o.Filter, err)
		}
		st.Pages++
		st.PageSizes = append(st.PageSizes, len(res.Entries))
		out = append(out, res.Entries...)
		c, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok {
			return out, nil // the server did not page: all entries came at once
		}
		st.Paged = true
		if len(c.Cookie) == 0 {
			return out, nil
		}
		paging.SetCookie(c.Cookie)
	}
}

func searchError(base, filter string, err error) error {
	msg := secretFree(err)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return fmt.Errorf("%w: ldap.base_dns: %q does not exist in the directory", fetcher.ErrConfig, base)
	case ldap.IsErrorWithCode(err, ldap.ErrorFilterCompile), ldap.IsErrorWithCode(err, ldap.LDAPResultFilterError):
		return fmt.Errorf("%w: ldap.filter: %q: %s", fetcher.ErrConfig, filter, msg)
	case ldap.IsErrorWithCode(err, ldap.ErrorNetwork):
		return fmt.Errorf("%w: ldap search %s: %s", fetcher.ErrOffline, base, msg)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights), ldap.IsErrorWithCode(err, ldap.LDAPResultOperationsError):
		return fmt.Errorf("%w: ldap search %s: %s", fetcher.ErrDenied, base, msg)
	}
	return fmt.Errorf("ldap search %s: %s", base, msg)
}

// host maps an entry to a host, or false when it has no usable dNSHostName.
func (inv *Inventory) host(e *ldap.Entry) (fetcher.Host, bool) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e.GetAttributeValue("dNSHostName"))), ".")
	if name == "" || dumpshare.ValidateHost(name) != nil {
		inv.log.Debug().Str("dn", e.DN).Msg("directory object without a usable dNSHostName skipped")
		return fetcher.Host{}, false
	}
	d := inv.o.Host
	h := fetcher.Host{Name: name, Port: d.Port, Credentials: d.Credentials, Auth: d.Auth, Share: d.Share,
		Globs: append([]string(nil), d.Globs...), Tags: append([]string(nil), d.Tags...)}
	dn, _ := ldap.ParseDN(e.DN)
	for _, t := range inv.o.Tags {
		switch {
		case t.OU != "":
			if ou, err := ldap.ParseDN(t.OU); err == nil && dn != nil && ou.AncestorOfFold(dn) {
				h.Tags = addTag(h.Tags, t.Tag)
			}
		case t.Group != "":
			g, err := ldap.ParseDN(t.Group)
			if err != nil {
				continue
			}
			for _, m := range e.GetAttributeValues("memberOf") {
				if md, err := ldap.ParseDN(m); err == nil && md.EqualFold(g) {
					h.Tags = addTag(h.Tags, t.Tag)
				}
			}
		case t.Attribute != "":
			tmpl := t.Tag
			if tmpl == "" {
				tmpl = "{value}"
			}
			for _, v := range e.GetAttributeValues(t.Attribute) {
				if v = strings.TrimSpace(v); v != "" {
					h.Tags = addTag(h.Tags, strings.ReplaceAll(tmpl, "{value}", v))
				}
			}
		}
	}
	return h, true
}

func addTag(tags []string, t string) []string {
	for _, x := range tags {
		if strings.EqualFold(x, t) {
			return tags
		}
	}
	return append(tags, t)
}

// joinLine joins errors' texts on one line.
func joinLine(errs []error) string {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

// ForFetcher builds the fetcher's SMB inventory from its options: the directory when ldap is
// set (combined with the inventory file when one is named), else the file. kerberos returns
// the Kerberos identity of a named credential (the SMB source's, so LDAP and SMB share
// tickets), or nil.
func ForFetcher(o fetcher.Options, kerberos func(credential string) *smbauth.Client, log zerolog.Logger) (fetcher.Inventory, error) {
	var file *fetcher.FileInventory
	if o.Inventory != "" {
		var err error
		if file, err = fetcher.NewFileInventory(o.Inventory); err != nil {
			return nil, err
		}
	}
	if o.LDAP == nil {
		if file == nil {
			return nil, errors.New("fetcher: no inventory: set fetcher.inventory or fetcher.ldap")
		}
		return file, nil
	}
	method, name := o.LDAP.LDAPBind(o)
	c, ok := o.Credentials[name]
	if !ok {
		return nil, fmt.Errorf("ldap.credentials: no entry %q in fetcher.credentials to bind with", name)
	}
	b := Bind{Method: method, User: c.User}
	switch method {
	case fetcher.BindGSSAPI:
		if b.Kerberos = kerberos(name); b.Kerberos == nil {
			return nil, fmt.Errorf("ldap.bind: gssapi needs kerberos settings in credentials.%s", name)
		}
	default:
		pw, err := c.Resolve()
		if err != nil {
			return nil, fmt.Errorf("credentials %q: %w", name, err)
		}
		b.Password = pw
	}
	inv, err := New(*o.LDAP, b, log)
	if err != nil {
		return nil, err
	}
	return &fetcher.CombinedInventory{Discovered: inv, File: file}, nil
}
