package fetcher

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
)

// DefaultLDAPFilter selects enabled computer objects: userAccountControl bit 2
// (ACCOUNTDISABLE) clear, tested with the bitwise-AND matching rule.
const DefaultLDAPFilter = "(&(objectCategory=computer)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"

// LDAP bind methods.
const (
	BindSimple = "simple"
	BindGSSAPI = "gssapi"
)

// LDAPOptions discover hosts in Active Directory: every object the filter selects under the
// base DNs becomes a host named by its dNSHostName (objects without one are skipped).
type LDAPOptions struct {
	// URLs of domain controllers, tried in order: ldaps://dc1.corp.example (port 636) or
	// ldap://dc1.corp.example (port 389) with start_tls. Use names, not IP addresses: the
	// certificate (and a GSSAPI bind's SPN, ldap/<name>) is checked against them.
	URLs []string `yaml:"urls"`
	// StartTLS upgrades ldap:// connections to TLS before binding (default false).
	StartTLS bool `yaml:"start_tls"`
	// CAFile is a PEM bundle of the CAs that issued the domain controllers' certificates
	// (default: the system roots).
	CAFile string `yaml:"ca_file"`
	// Bind is simple (the credential's user and password) or gssapi (Kerberos with the
	// credential's kerberos settings, only over TLS: go-ldap has no SASL signing). Default:
	// gssapi when the credential has kerberos settings, else simple.
	Bind string `yaml:"bind"`
	// Credentials names the entry of fetcher.credentials to bind with (default:
	// fetcher.default_credentials).
	Credentials string `yaml:"credentials"`
	// BaseDNs are the subtrees to search, e.g. "OU=Servers,DC=corp,DC=example" (required).
	BaseDNs []string `yaml:"base_dns"`
	// Filter is an LDAP filter (default: enabled computer objects,
	// (&(objectCategory=computer)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))).
	Filter string `yaml:"filter"`
	// PageSize is how many entries each page of the paged search holds (default 500; a
	// domain controller answers at most MaxPageSize, 1000, per request).
	PageSize int `yaml:"page_size"`
	// Refresh is how often the directory is read again; a failed read keeps the last good
	// list (default 15m).
	Refresh time.Duration `yaml:"refresh"`
	// Timeout bounds connecting, binding and searching (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// Tags give discovered hosts tags by OU, group or attribute.
	Tags []LDAPTag `yaml:"tags"`
	// Host holds the settings of every discovered host (credentials, auth, share, globs).
	Host LDAPHost `yaml:"host"`
}

// LDAPTag tags the hosts that match one condition: under an OU, a direct member of a group,
// or having an attribute.
type LDAPTag struct {
	// Tag is the tag to add; with attribute, "{value}" in it is replaced by each of the
	// attribute's values (default "{value}").
	Tag string `yaml:"tag"`
	// OU tags hosts whose DN is under this DN, e.g. "OU=Web,OU=Servers,DC=corp,DC=example".
	OU string `yaml:"ou"`
	// Group tags direct members of this group (its DN, as in memberOf).
	Group string `yaml:"group"`
	// Attribute tags hosts by the values of this attribute, e.g. location or department.
	Attribute string `yaml:"attribute"`
}

// LDAPHost is what every discovered host gets; a host of the same name in the inventory
// file replaces the discovered one.
type LDAPHost struct {
	// Credentials names an entry of fetcher.credentials (default: default_credentials).
	Credentials string `yaml:"credentials"`
	// Auth overrides fetcher.auth for discovered hosts.
	Auth string `yaml:"auth"`
	// Port is the SMB port (default 445).
	Port int `yaml:"port"`
	// Share overrides fetcher.admin_share.
	Share string `yaml:"share"`
	// Globs are extra dump patterns (added to fetcher.globs).
	Globs []string `yaml:"globs"`
	// Tags are added to every discovered host.
	Tags []string `yaml:"tags"`
}

// WithDefaults returns o with every zero field set to its default.
func (o LDAPOptions) WithDefaults() LDAPOptions {
	if o.Filter == "" {
		o.Filter = DefaultLDAPFilter
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.Refresh <= 0 {
		o.Refresh = 15 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	return o
}

// Validate reports every problem at once, each message starting with its key relative to
// the LDAP options.
func (o LDAPOptions) Validate() error {
	var ps optcheck.Problems
	add := ps.Addf
	if len(o.URLs) == 0 {
		add("urls", "required (e.g. ldaps://dc1.corp.example)")
	}
	for _, u := range o.URLs {
		pu, err := url.Parse(u)
		switch {
		case err != nil || pu.Host == "":
			add("urls", "%q: want ldaps://host[:port] or ldap://host[:port]", u)
		case pu.Scheme != "ldaps" && pu.Scheme != "ldap":
			add("urls", "%q: scheme must be ldaps or ldap", u)
		case pu.Scheme == "ldaps" && o.StartTLS:
			add("start_tls", "%q is already TLS: start_tls is for ldap:// URLs", u)
		}
	}
	if len(o.BaseDNs) == 0 {
		add("base_dns", "required (e.g. OU=Servers,DC=corp,DC=example)")
	}
	for _, dn := range o.BaseDNs {
		if _, err := ldap.ParseDN(dn); err != nil || dn == "" {
			add("base_dns", "%q: not a DN", dn)
		}
	}
	if o.Filter != "" {
		if _, err := ldap.CompileFilter(o.Filter); err != nil {
			add("filter", "%q: %v", o.Filter, ldapErrText(err))
		}
	}
	switch o.Bind {
	case "", BindSimple, BindGSSAPI:
	default:
		add("bind", "%q: want simple or gssapi", o.Bind)
	}
	if o.PageSize < 0 || o.PageSize > 1000 {
		add("page_size", "%d: want 1 to 1000 (a domain controller's MaxPageSize)", o.PageSize)
	}
	for i, t := range o.Tags {
		n := 0
		for _, s := range []string{t.OU, t.Group, t.Attribute} {
			if s != "" {
				n++
			}
		}
		key := fmt.Sprintf("tags[%d]", i)
		switch {
		case n != 1:
			add(key, "give exactly one of ou, group or attribute")
		case t.Tag == "" && t.Attribute == "":
			add(key+".tag", "required with ou or group")
		}
		for _, dn := range []string{t.OU, t.Group} {
			if dn != "" {
				if _, err := ldap.ParseDN(dn); err != nil {
					add(key, "%q: not a DN", dn)
				}
			}
		}
	}
	if err := smbauth.CheckAuth(o.Host.Auth); err != nil {
		add("host.auth", "%v", err)
	}
	for _, g := range o.Host.Globs {
		if err := checkGlob(g); err != nil {
			add("host.globs", "%v", err)
		}
	}
	return ps.Err()
}

// LDAPBind returns the bind method and the credential name that o uses with the fetcher's
// options f.
func (o LDAPOptions) LDAPBind(f Options) (method, credential string) {
	credential = o.Credentials
	if credential == "" {
		credential = f.WithDefaults().DefaultCredentials
	}
	method = o.Bind
	if method == "" {
		method = BindSimple
		if c, ok := f.Credentials[credential]; ok && c.Kerberos != nil {
			method = BindGSSAPI
		}
	}
	return method, credential
}

// checkBind checks the bind against the fetcher's credentials.
func (o LDAPOptions) checkBind(f Options) error {
	method, name := o.LDAPBind(f)
	c, ok := f.Credentials[name]
	var ps optcheck.Problems
	switch {
	case !ok:
		ps.Addf("ldap.credentials", "no entry %q in fetcher.credentials to bind with", name)
	case method == BindGSSAPI && c.Kerberos == nil:
		ps.Addf("ldap.bind", "gssapi needs kerberos settings in credentials.%s", name)
	case method == BindSimple && !c.HasPassword():
		ps.Addf("ldap.bind", "simple needs a password in credentials.%s", name)
	}
	if err := PlainLDAPRefused(o, method); err != nil {
		var p optcheck.Problem
		if errors.As(err, &p) {
			ps = append(ps, p)
		}
	}
	return ps.Err()
}

// PlainLDAPRefused refuses binding over a plain ldap:// URL without start_tls, naming why
// for the bind method.
func PlainLDAPRefused(o LDAPOptions, method string) error {
	for _, u := range o.URLs {
		if !strings.HasPrefix(strings.ToLower(u), "ldap://") || o.StartTLS {
			continue
		}
		if method == BindGSSAPI {
			return optcheck.Problem{Key: "ldap.bind", Msg: fmt.Sprintf("gssapi over plain %s is refused: go-ldap has no SASL signing or sealing (domain controllers that require LDAP signing reject such a bind, and the answers could be tampered with): use ldaps:// or start_tls: true", u)}
		}
		return optcheck.Problem{Key: "ldap.urls", Msg: fmt.Sprintf("%s without start_tls would send the password in clear: use ldaps:// or start_tls: true", u)}
	}
	return nil
}

// ldapErrText is go-ldap's error without its "LDAP Result Code 201 ..." prefix.
func ldapErrText(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		err = le.Err
	}
	return strings.TrimPrefix(err.Error(), "ldap: ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
