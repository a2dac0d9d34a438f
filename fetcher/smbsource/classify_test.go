package smbsource

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/cloudsoda/go-smb2"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/internal/smbwire"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason string
	}{
		{"logon failure", &smb2.ResponseError{Code: statusLogonFailure}, "auth"},
		{"access denied", &os.PathError{Op: "open", Path: "x", Err: &smb2.ResponseError{Code: statusAccessDenied}}, "denied"},
		{"no share", &smb2.ResponseError{Code: statusBadNetworkName}, "no_share"},
		{"deadline", context.DeadlineExceeded, "timeout"},
		{"connection lost", &os.PathError{Op: "read", Path: "x", Err: &smb2.TransportError{Err: io.EOF}}, "offline"},
		{"clear message on an encrypted session", &os.PathError{Op: "read", Path: "x", Err: &smb2.TransportError{Err: smbwire.ErrPlaintext}}, "unencrypted"},
		{"permission", fs.ErrPermission, "denied"},
		{"other", errors.New("odd"), "error"},
	}
	for _, tt := range tests {
		err := classify(tt.err, tt.err)
		if got := fetcher.Reason(err); got != tt.reason {
			t.Errorf("%s: reason %q, want %q (%v)", tt.name, got, tt.reason, err)
		}
		if err.Error() != tt.err.Error() && !errors.Is(err, tt.err) {
			t.Errorf("%s: %v lost the original error", tt.name, err)
		}
	}
}
