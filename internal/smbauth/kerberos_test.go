package smbauth

import (
	"encoding/asn1"
	"errors"
	"testing"
)

// panicky is an initiator whose SessionKey slices an empty key, as go-smb2's Krb5Initiator
// does for a reply without a subkey.
type panicky struct{ key []byte }

func (p panicky) OID() asn1.ObjectIdentifier              { return nil }
func (p panicky) InitSecContext() ([]byte, error)         { return nil, nil }
func (p panicky) AcceptSecContext([]byte) ([]byte, error) { return nil, nil }
func (p panicky) Sum([]byte) []byte                       { return nil }
func (p panicky) SessionKey() []byte                      { return p.key[:16] }

func TestSubkeyGuard(t *testing.T) {
	if _, err := subkey(panicky{}); !errors.Is(err, ErrNoSubkey) {
		t.Errorf("empty key: %v, want ErrNoSubkey", err)
	}
	if k, err := subkey(panicky{key: make([]byte, 32)}); err != nil || len(k) != 16 {
		t.Errorf("32-byte key: %d bytes, %v", len(k), err)
	}
}

func TestSPN(t *testing.T) {
	tests := []struct{ host, spn, err string }{
		{"SRV01.corp.example", "cifs/srv01.corp.example", ""},
		{"srv01.corp.example.", "cifs/srv01.corp.example", ""},
		{"srv01.corp.example:445", "cifs/srv01.corp.example", ""},
		{"10.0.0.5", "", "unknown Kerberos principal: Kerberos needs the host's DNS name, and 10.0.0.5 is an IP address: name the host as AD knows it (its dNSHostName)"},
		{"[fe80::1]:445", "", "unknown Kerberos principal: Kerberos needs the host's DNS name, and fe80::1 is an IP address: name the host as AD knows it (its dNSHostName)"},
	}
	for _, tt := range tests {
		spn, err := SPN("cifs", tt.host)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if spn != tt.spn || got != tt.err {
			t.Errorf("SPN(%q) = %q, %q; want %q, %q", tt.host, spn, got, tt.spn, tt.err)
		}
	}
}

func TestKerberosValidate(t *testing.T) {
	err := Kerberos{Realm: "corp.example", KDCs: []string{"dc1:88", "a b"}}.Validate()
	want := `kdcs[1]: "a b": want host or host:port; realm: "corp.example": want the realm in upper case, e.g. CORP.EXAMPLE.COM`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if err := (Kerberos{}).Validate(); err == nil || err.Error() != "kdcs: required without krb5_conf_file" {
		t.Errorf("empty: %v", err)
	}
	if err := CheckAuth("basic"); err == nil || err.Error() != `"basic": want kerberos, ntlm or negotiate` {
		t.Errorf("CheckAuth: %v", err)
	}
}
