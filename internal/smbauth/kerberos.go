package smbauth

import (
	"github.com/bsodwatch/bsodwatch/internal/optcheck"

	"encoding/asn1"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/cloudsoda/go-smb2"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/secret"
)

// Logon methods for SMB (the `auth` option).
const (
	// AuthNegotiate uses Kerberos when the credential has Kerberos settings, and NTLM when it
	// has none, or when Kerberos cannot even start (no SPN for the host, no KDC, a host given
	// by IP address) and the credential has a password.
	AuthNegotiate = "negotiate"
	AuthKerberos  = "kerberos"
	AuthNTLM      = "ntlm"
)

// CheckAuth checks an `auth` value ("" means negotiate).
func CheckAuth(s string) error {
	switch s {
	case "", AuthNegotiate, AuthKerberos, AuthNTLM:
		return nil
	}
	return fmt.Errorf("%q: want kerberos, ntlm or negotiate", s)
}

// Kerberos says how an account obtains Kerberos tickets. Either KDCs (with Realm or a
// user@REALM name) or a krb5.conf is needed; keys come from a keytab or, without one, from
// the account's password.
type Kerberos struct {
	// KeytabFile holds the account's keys: the recommended way (a gMSA's or service account's
	// keytab, exported with ktpass or samba-tool domain exportkeytab). Without it the
	// credential's password is used.
	KeytabFile string `yaml:"keytab_file"`
	// Realm is the Kerberos realm (the AD domain in upper case, e.g. CORP.EXAMPLE.COM).
	// Default: the domain of a user@domain name, upper-cased, else krb5.conf's default_realm.
	Realm string `yaml:"realm"`
	// KDCs are the domain controllers to ask, host or host:port (port 88). Default: those
	// krb5.conf lists for the realm.
	KDCs []string `yaml:"kdcs"`
	// Krb5ConfFile is a krb5.conf (MIT format) for realms, KDCs, ticket lifetimes and clock
	// skew. Default: none (kdcs is then required).
	Krb5ConfFile string `yaml:"krb5_conf_file"`
}

// Validate reports every problem at once, each message starting with its key (relative to
// the Kerberos settings).
func (k Kerberos) Validate() error {
	var ps optcheck.Problems
	if len(k.KDCs) == 0 && k.Krb5ConfFile == "" {
		ps.Addf("kdcs", "required without krb5_conf_file")
	}
	for i, kdc := range k.KDCs {
		if err := checkHostPort(kdc); err != nil {
			ps.Addf(optcheck.Index("kdcs", i), "%s", err)
		}
	}
	if k.Realm != "" && (strings.ContainsAny(k.Realm, " \t@/\\") || k.Realm != strings.ToUpper(k.Realm)) {
		ps.Addf("realm", "%q: want the realm in upper case, e.g. CORP.EXAMPLE.COM", k.Realm)
	}
	ps.File("keytab_file", k.KeytabFile)
	ps.File("krb5_conf_file", k.Krb5ConfFile)
	return ps.Err()
}

// checkHostPort accepts "host" and "host:port".
func checkHostPort(s string) error {
	h := s
	if host, _, err := net.SplitHostPort(s); err == nil {
		h = host
	}
	if h == "" || strings.ContainsAny(h, " /\\@") {
		return fmt.Errorf("%q: want host or host:port", s)
	}
	return nil
}

// Errors a Kerberos logon is classified by; each error text says what to do.
var (
	ErrNTLMBlocked      = errors.New("NTLM is blocked on this host: use Kerberos (auth: kerberos with a keytab)")
	ErrClockSkew        = errors.New("clock skew: this machine's clock and the domain controller's differ by more than the domain allows (5 minutes by default): sync both with NTP")
	ErrUnknownPrincipal = errors.New("unknown Kerberos principal")
	ErrKeytab           = errors.New("the KDC refused the keytab")
	ErrKDCUnreachable   = errors.New("no Kerberos KDC answered")
	// ErrLogon is any other refused logon (wrong password, disabled or locked account).
	ErrLogon = errors.New("logon failed")
	// ErrNoSubkey is a server reply (AP-REP) without the session subkey that SMB signing
	// and encryption are keyed with.
	ErrNoSubkey = errors.New("the server's Kerberos reply (AP-REP) carries no session subkey")
)

// Client is one account's Kerberos identity, shared by every session that logs on with it:
// its TGT and service tickets are cached, renewed before they expire and, when renewal is
// no longer possible (past renew-till, or a TGT that expired while no KDC answered),
// obtained afresh from the keytab or password. Safe for concurrent use.
type Client struct {
	cl        *client.Client
	principal string // user@REALM, for messages
	keytab    bool
	keytabSrc string

	mu       sync.Mutex
	loggedIn bool
}

// NewClient loads the keytab and krb5.conf and prepares the account; it does not contact a
// KDC yet. user is "user", "user@domain" or "DOMAIN\user" (the domain part of the last is
// not a realm and is ignored); password is used only without a keytab.
func NewClient(user string, password secret.Value, o Kerberos, logger zerolog.Logger) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg, err := krbConfig(o)
	if err != nil {
		return nil, err
	}
	name, realm := user, o.Realm
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		if realm == "" {
			realm = strings.ToUpper(name[i+1:])
		}
		name = name[:i]
	}
	if realm == "" {
		realm = cfg.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, fmt.Errorf("kerberos: no realm for %q: set realm, write the user as user@domain, or give a krb5.conf with default_realm", user)
	}
	if name == "" {
		return nil, errors.New("kerberos: user is required")
	}
	if len(o.KDCs) > 0 {
		setKDCs(cfg, realm, o.KDCs)
	}
	settings := []func(*client.Settings){
		// AD offers no FAST armor by default; asking for it only costs a round trip.
		client.DisablePAFXFAST(true),
		client.Logger(log.New(zerologWriter{logger.With().Str("component", "kerberos").Logger()}, "", 0)),
	}
	c := &Client{principal: name + "@" + realm}
	switch {
	case o.KeytabFile != "":
		kt, err := keytab.Load(o.KeytabFile)
		if err != nil {
			return nil, fmt.Errorf("kerberos: keytab %s: %w", o.KeytabFile, err)
		}
		c.cl = client.NewWithKeytab(name, realm, kt, cfg, settings...)
		c.keytab, c.keytabSrc = true, o.KeytabFile
	case !password.IsZero():
		c.cl = client.NewWithPassword(name, realm, password.Reveal(), cfg, settings...)
	default:
		return nil, fmt.Errorf("kerberos: %s has neither keytab_file nor a password", c.principal)
	}
	return c, nil
}

func krbConfig(o Kerberos) (*config.Config, error) {
	if o.Krb5ConfFile != "" {
		cfg, err := config.Load(o.Krb5ConfFile)
		if err != nil {
			var ue config.UnsupportedDirective
			if !errors.As(err, &ue) { // gokrb5 reports directives it ignores; the rest loads
				return nil, fmt.Errorf("kerberos: krb5.conf %s: %w", o.Krb5ConfFile, err)
			}
		}
		return cfg, nil
	}
	cfg := config.New()
	cfg.LibDefaults.DNSLookupKDC = false
	cfg.LibDefaults.DNSLookupRealm = false
	cfg.LibDefaults.UDPPreferenceLimit = 1 // TCP: AD tickets with a PAC rarely fit a datagram
	cfg.LibDefaults.DefaultRealm = o.Realm
	return cfg, nil
}

func setKDCs(cfg *config.Config, realm string, kdcs []string) {
	addrs := make([]string, len(kdcs))
	for i, k := range kdcs {
		if _, _, err := net.SplitHostPort(k); err != nil {
			k = net.JoinHostPort(strings.Trim(k, "[]"), "88")
		}
		addrs[i] = k
	}
	for i := range cfg.Realms {
		if cfg.Realms[i].Realm == realm {
			cfg.Realms[i].KDC = addrs
			return
		}
	}
	cfg.Realms = append(cfg.Realms, config.Realm{Realm: realm, KDC: addrs})
}

// Principal is the account's name, user@REALM.
func (c *Client) Principal() string { return c.principal }

// Krb5 returns the gokrb5 client, for other GSSAPI users of the same identity (LDAP).
func (c *Client) Krb5() *client.Client { return c.cl }

// Destroy ends the renewal goroutines and forgets every ticket.
func (c *Client) Destroy() { c.cl.Destroy() }

// Ticket makes sure a valid service ticket for spn is cached, logging in first when needed
// and afresh once when the cached TGT cannot be used any more. The error is classified
// (ErrUnknownPrincipal, ErrKeytab, ErrClockSkew, ErrKDCUnreachable, ErrLogon).
func (c *Client) Ticket(spn string) error {
	if err := c.login(false); err != nil {
		return err
	}
	_, _, err := c.cl.GetServiceTicket(spn)
	if err == nil {
		return nil
	}
	if k := c.Classify(err, spn); errors.Is(k, ErrUnknownPrincipal) || errors.Is(k, ErrClockSkew) || errors.Is(k, ErrKDCUnreachable) {
		return k // a fresh TGT would not help
	}
	// The TGT may have expired while no KDC answered (gokrb5 then only retries a renewal,
	// which the KDC refuses for an expired ticket): log in again with the keys.
	if err := c.login(true); err != nil {
		return err
	}
	if _, _, err := c.cl.GetServiceTicket(spn); err != nil {
		return c.Classify(err, spn)
	}
	return nil
}

func (c *Client) login(again bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggedIn && !again {
		return nil
	}
	if err := c.cl.Login(); err != nil {
		c.loggedIn = false
		return c.Classify(err, "")
	}
	c.loggedIn = true
	return nil
}

// Initiator returns a go-smb2 initiator that logs on to spn with this identity. Call
// Ticket first: the initiator takes the cached ticket.
func (c *Client) Initiator(spn string) *Initiator {
	return &Initiator{krb: &smb2.Krb5Initiator{Client: c.cl, TargetSPN: spn}, c: c, spn: spn}
}

// Initiator wraps go-smb2's Krb5Initiator: it keeps the first error with its chain (go-smb2
// keeps only the text) and refuses a reply without a session subkey, where go-smb2 would
// slice an empty key and panic.
type Initiator struct {
	krb *smb2.Krb5Initiator
	c   *Client
	spn string
	key []byte
	err error
}

var _ smb2.Initiator = (*Initiator)(nil)

// OID implements smb2.Initiator.
func (i *Initiator) OID() asn1.ObjectIdentifier { return i.krb.OID() }

// InitSecContext implements smb2.Initiator.
func (i *Initiator) InitSecContext() ([]byte, error) {
	b, err := i.krb.InitSecContext()
	if err != nil {
		i.err = i.c.Classify(err, i.spn)
		return nil, i.err
	}
	return b, nil
}

// AcceptSecContext implements smb2.Initiator; it fails on a reply without a session subkey.
func (i *Initiator) AcceptSecContext(sc []byte) ([]byte, error) {
	b, err := i.krb.AcceptSecContext(sc)
	if err != nil {
		i.err = fmt.Errorf("%w: %w", ErrLogon, err)
		return nil, i.err
	}
	key, err := subkey(i.krb)
	if err != nil {
		i.err = err
		return nil, err
	}
	i.key = key
	return b, nil
}

// subkey reads the session key go-smb2 derives from the AP-REP's subkey, refusing one that
// is absent or shorter than the 16 bytes it slices.
func subkey(ini smb2.Initiator) (key []byte, err error) {
	defer func() {
		if recover() != nil {
			key, err = nil, ErrNoSubkey
		}
	}()
	key = ini.SessionKey()
	if len(key) < 16 {
		return nil, ErrNoSubkey
	}
	return key, nil
}

// Sum implements smb2.Initiator.
func (i *Initiator) Sum(bs []byte) []byte { return i.krb.Sum(bs) }

// SessionKey returns the key checked by AcceptSecContext (nil before).
func (i *Initiator) SessionKey() []byte { return i.key }

// Err returns the classified error of a failed logon, if the initiator saw one.
func (i *Initiator) Err() error { return i.err }

// SPN returns the service principal name of service on host: "cifs/srv01.corp.example".
// A host given by IP address has none (the KDC would answer KDC_ERR_S_PRINCIPAL_UNKNOWN).
func SPN(service, host string) (string, error) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return "", fmt.Errorf("%w: Kerberos needs the host's DNS name, and %s is an IP address: name the host as AD knows it (its dNSHostName)", ErrUnknownPrincipal, host)
	}
	if host == "" {
		return "", fmt.Errorf("%w: no host name for the SPN", ErrUnknownPrincipal)
	}
	return service + "/" + strings.ToLower(host), nil
}

// codeName is gokrb5's name of a Kerberos error code ("KDC_ERR_S_PRINCIPAL_UNKNOWN"): its
// errors keep only text, so classification looks for the name.
func codeName(code int32) string {
	f := strings.Fields(errorcode.Lookup(code))
	if len(f) < 2 {
		return fmt.Sprintf("(%d)", code)
	}
	return f[1]
}

func hasCode(msg string, codes ...int32) bool {
	for _, c := range codes {
		if strings.Contains(msg, codeName(c)) {
			return true
		}
	}
	return false
}

// Classify wraps a gokrb5 error with the sentinel for what it says, in one line. spn is the
// service the ticket was for ("" for a logon).
func (c *Client) Classify(err error, spn string) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrUnknownPrincipal, ErrKeytab, ErrClockSkew, ErrKDCUnreachable, ErrLogon, ErrNoSubkey} {
		if errors.Is(err, s) {
			return err
		}
	}
	msg := oneLine(err.Error())
	switch {
	case hasCode(msg, errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN):
		return fmt.Errorf("%w: the domain has no account with the SPN %s: the host is not in the domain, or AD knows it by another name (use its dNSHostName; setspn -Q %s)", ErrUnknownPrincipal, spn, spn)
	case hasCode(msg, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN):
		return fmt.Errorf("%w: the domain has no account %s", ErrUnknownPrincipal, c.principal)
	case spn != "" && hasCode(msg, errorcode.KDC_ERR_ETYPE_NOSUPP):
		return fmt.Errorf("%w: the account with the SPN %s has no Kerberos keys (a computer object that never joined, or a stale one): rejoin the host or remove the object", ErrUnknownPrincipal, spn)
	case hasCode(msg, errorcode.KRB_AP_ERR_SKEW):
		return fmt.Errorf("%w (KRB_AP_ERR_SKEW for %s)", ErrClockSkew, c.principal)
	case strings.Contains(msg, "clock skew"):
		return fmt.Errorf("%w (%s)", ErrClockSkew, msg)
	case c.keytab && hasCode(msg, errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KRB_AP_ERR_BAD_INTEGRITY, errorcode.KDC_ERR_ETYPE_NOSUPP):
		return fmt.Errorf("%w %s for %s: its keys no longer match the account (password changed since it was exported?): export it again", ErrKeytab, c.keytabSrc, c.principal)
	case c.keytab && (strings.Contains(msg, "keytab") || strings.Contains(msg, "matching key not found")):
		return fmt.Errorf("%w %s for %s: it has no key of a type the KDC offers for this account (%s)", ErrKeytab, c.keytabSrc, c.principal, msg)
	case hasCode(msg, errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KRB_AP_ERR_BAD_INTEGRITY):
		return fmt.Errorf("%w: wrong password for %s", ErrLogon, c.principal)
	case hasCode(msg, errorcode.KDC_ERR_CLIENT_REVOKED):
		return fmt.Errorf("%w: %s is disabled or locked out", ErrLogon, c.principal)
	case hasCode(msg, errorcode.KDC_ERR_KEY_EXPIRED):
		return fmt.Errorf("%w: the password of %s has expired", ErrLogon, c.principal)
	case strings.Contains(msg, "communicat") || strings.Contains(msg, "Networking_Error") || strings.Contains(msg, "no KDC") ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "i/o timeout"):
		return fmt.Errorf("%w for %s (%s): check kdcs or krb5.conf and that TCP port 88 is open", ErrKDCUnreachable, c.principal, msg)
	}
	return fmt.Errorf("kerberos %s: %s", c.principal, msg)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// zerologWriter passes gokrb5's log lines (ticket obtained, renewed) on at debug level.
type zerologWriter struct{ log zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
