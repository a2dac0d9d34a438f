// Package smbauth turns bsodwatch's SMB credentials into a go-smb2 dialer: the one place that
// knows how a "DOMAIN\user" or "user@domain" name and a password become an NTLM logon. Both
// the fetcher's sources and the SMB dump share use it.
package smbauth

import (
	"strings"

	"github.com/cloudsoda/go-smb2"

	"github.com/bsodwatch/bsodwatch/secret"
)

// SplitUser splits "DOMAIN\user" and "user@domain" into domain and user.
func SplitUser(u string) (domain, user string) {
	if i := strings.IndexByte(u, '\\'); i >= 0 {
		return u[:i], u[i+1:]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		return u[i+1:], u[:i]
	}
	return "", u
}

// Dialer returns a dialer that logs on with NTLM. The dialect is left to negotiation (pinning
// SMB 2.x crashes go-smb2 against servers that want encryption); requireSigning insists on
// signed messages even where the server does not ask for them.
func Dialer(domain, user string, password secret.Value, requireSigning bool) *smb2.Dialer {
	return &smb2.Dialer{
		Negotiator: smb2.Negotiator{RequireMessageSigning: requireSigning},
		Initiator:  &smb2.NTLMInitiator{User: user, Domain: domain, Password: password.Reveal()},
	}
}
