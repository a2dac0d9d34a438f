package debugout

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

func TestStoreAndCap(t *testing.T) {
	q := embeddedtest.Start(t, "")
	ctx := context.Background()
	s, err := Open(ctx, q.JS, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	small := []byte("Microsoft (R) Windows Debugger\nBugCheck 7E\n")
	if err := s.PutOutput(ctx, "job1", small); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "job1"); err != nil || !bytes.Equal(got, small) {
		t.Errorf("Get = %q, %v", got, err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing output: %v", err)
	}
	big := append(append([]byte("HEAD"), bytes.Repeat([]byte("x"), MaxBytes)...), []byte("TAIL")...)
	if err := s.PutOutput(ctx, "job2", big); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "job2")
	if len(got) > MaxBytes+200 || !bytes.HasPrefix(got, []byte("HEAD")) || !bytes.HasSuffix(got, []byte("TAIL")) ||
		!strings.Contains(string(got), "[bsodwatch: 8 bytes of debugger output cut here; 4194304 kept]") {
		t.Errorf("capped output: %d bytes, %q…%q", len(got), got[:8], got[len(got)-8:])
	}
}
