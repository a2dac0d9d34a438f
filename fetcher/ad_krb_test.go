package fetcher_test

import (
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/internal/adtest"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
	"github.com/bsodwatch/bsodwatch/secret"
)

// skewedLogon sends the KDC an AS-REQ whose encrypted timestamp is skew ahead of the clock,
// and returns the KDC's answer as gokrb5 reports it (nil: a TGT was issued).
func skewedLogon(t *testing.T, krb *smbauth.Client, skew time.Duration) error {
	t.Helper()
	cl := krb.Krb5()
	realm := cl.Credentials.Realm()
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, cl.Credentials.UserName())
	req, err := messages.NewASReqForTGT(realm, cl.Config, cname)
	if err != nil {
		t.Fatal(err)
	}
	key, kvno, err := cl.Credentials.Keytab().GetEncryptionKey(cname, realm, 0, etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(skew)
	b, err := asn1.Marshal(types.PAEncTSEnc{PATimestamp: ts, PAUSec: ts.Nanosecond() / 1000})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := crypto.GetEncryptedData(b, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP, kvno)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := enc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req.PAData = append(req.PAData, types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: pb})
	_, err = cl.ASExchange(realm, req, 0)
	return err
}

// TestADNoSessionSubkey: an AP-REP without a subkey, encrypted with the real session key of a
// real ticket for a rig host, goes through go-smb2's Krb5Initiator (which accepts it and
// would then slice the empty key: a panic) and our guard, which refuses it with
// ErrNoSubkey. A reply with a subkey passes.
func TestADNoSessionSubkey(t *testing.T) {
	e := adtest.Need(t)
	krb, err := smbauth.NewClient(e.User, secret.Value{}, smbauth.Kerberos{KeytabFile: e.Keytab, Krb5ConfFile: e.Krb5Conf}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer krb.Destroy()
	spn := "cifs/" + e.Servers[0]
	if err := krb.Ticket(spn); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		subkey types.EncryptionKey
		want   string
	}{
		{"no subkey", types.EncryptionKey{}, smbauth.ErrNoSubkey.Error()},
		{"short subkey", types.EncryptionKey{KeyType: etypeID.DES_CBC_MD5, KeyValue: make([]byte, 8)}, smbauth.ErrNoSubkey.Error()},
		{"subkey", types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: make([]byte, 32)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini := krb.Initiator(spn)
			if _, err := ini.InitSecContext(); err != nil {
				t.Fatal(err)
			}
			_, key, err := krb.Krb5().GetServiceTicket(spn) // the cached ticket's session key
			if err != nil {
				t.Fatal(err)
			}
			_, err = ini.AcceptSecContext(apRep(t, key, tc.subkey))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("AcceptSecContext: %q, want %q", got, tc.want)
			}
			if tc.want == "" && len(ini.SessionKey()) != 16 {
				t.Errorf("session key of %d bytes", len(ini.SessionKey()))
			}
		})
	}
}

// apRep builds a GSS-API KRB5 AP-REP token whose encrypted part has the given subkey.
func apRep(t *testing.T, key, subkey types.EncryptionKey) []byte {
	t.Helper()
	now := time.Now().UTC()
	part := messages.EncAPRepPart{CTime: now, Cusec: now.Nanosecond() / 1000, Subkey: subkey}
	b, err := asn1.Marshal(part)
	if err != nil {
		t.Fatal(err)
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
	enc, err := crypto.GetEncryptedData(b, key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := asn1.Marshal(messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: enc})
	if err != nil {
		t.Fatal(err)
	}
	rep = asn1tools.AddASNAppTag(rep, asnAppTag.APREP)
	oid, _ := asn1.Marshal(gssapi.OIDKRB5.OID())
	// GSS-API framing (RFC 2743 3.1): [APPLICATION 0] { mech OID, token ID 02 00, AP-REP }.
	return asn1tools.AddASNAppTag(append(append(oid, 0x02, 0x00), rep...), 0)
}
