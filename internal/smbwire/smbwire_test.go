package smbwire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// frame is one Direct TCP frame: the length, then a message starting with proto.
func frame(proto string, body int) []byte {
	msg := append([]byte(proto), bytes.Repeat([]byte{0xFE}, body)...) // bodies full of 0xFE, as if more headers
	n := len(msg)
	return append([]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}, msg...)
}

const (
	plainID  = "\xFESMB"
	sealedID = "\xFDSMB"
)

func TestCounts(t *testing.T) {
	tests := []struct {
		name          string
		frames        [][]byte
		sealed, plain int64
	}{
		{"plain only", [][]byte{frame(plainID, 60), frame(plainID, 0)}, 0, 2},
		{"sealed only", [][]byte{frame(sealedID, 1<<20), frame(sealedID, 48)}, 2, 0},
		{"mixed", [][]byte{frame(plainID, 100), frame(sealedID, 70000), frame(plainID, 64)}, 1, 2},
		{"compression transform counts as plain", [][]byte{frame("\xFCSMB", 20)}, 0, 1},
		{"frames too short for a protocol id are skipped", [][]byte{{0, 0, 0, 2, 0xFD, 'S'}, {0, 0, 0, 0}, frame(sealedID, 10)}, 1, 0},
	}
	for _, tt := range tests {
		stream := bytes.Join(tt.frames, nil)
		// every way of cutting the stream into reads of one size
		for _, step := range []int{1, 2, 3, 5, 7, 64, 4096, len(stream)} {
			c := &Conn{}
			for b := stream; len(b) > 0; {
				k := min(step, len(b))
				if c.scan(b[:k]) {
					t.Fatalf("%s, reads of %d: refused without Require", tt.name, step)
				}
				b = b[k:]
			}
			if s, p := c.Counts(); s != tt.sealed || p != tt.plain {
				t.Errorf("%s, reads of %d: sealed %d, plain %d; want %d, %d", tt.name, step, s, p, tt.sealed, tt.plain)
			}
		}
	}
}

// TestRequire: once required, a plain message ends the connection and none of its bytes
// reach the reader.
func TestRequire(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := Watch(client)
	go func() {
		server.Write(frame(sealedID, 100))
		server.Write(frame(plainID, 100))
	}()
	first := make([]byte, 108)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatalf("sealed frame: %v", err)
	}
	c.Require()
	buf := make([]byte, 200)
	n, err := c.Read(buf)
	if !errors.Is(err, ErrPlaintext) || n != 0 {
		t.Fatalf("plain frame after Require: n=%d, err=%v; want 0, %v", n, err, ErrPlaintext)
	}
	if got, want := err.Error(), "server sent an unencrypted SMB message on a session that must be encrypted"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if s, p := c.Counts(); s != 1 || p != 1 {
		t.Errorf("sealed %d, plain %d; want 1, 1", s, p)
	}
	if _, err := server.Write([]byte{0}); err == nil {
		t.Error("the connection is still open after the plain frame")
	}
}
