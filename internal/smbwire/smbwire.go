// Package smbwire watches, below go-smb2, the SMB messages a server sends on one TCP
// connection and tells which arrive encrypted: an SMB 3 transform (protocol id 0xFD 'S' 'M'
// 'B', AES-GCM or AES-CCM, MS-SMB2 2.2.41) rather than a plain SMB2 header (0xFE 'S' 'M' 'B').
// go-smb2 negotiates encryption whenever the server asks for it but does not say whether it
// did, and it accepts a plain message on a session it encrypts. A Conn counts both kinds, so
// the caller can check a session after a probe request, and once Require has been called it
// ends the connection at the first plain message instead of passing it to the library.
package smbwire

import (
	"errors"
	"net"
	"sync/atomic"
)

// ErrPlaintext is returned by Read once encryption is required and the server sends a
// message that is not encrypted.
var ErrPlaintext = errors.New("server sent an unencrypted SMB message on a session that must be encrypted")

// Conn is a net.Conn whose reads are watched. Only go-smb2's receiving goroutine may Read;
// the counters may be read from anywhere.
type Conn struct {
	net.Conn

	sealed, plain atomic.Int64
	require       atomic.Bool

	// the frame being read: Direct TCP framing (MS-SMB2 2.1), a 4-byte big-endian length
	// (its first byte zero), then the message, which starts with its protocol id
	head   [8]byte // the length, then the protocol id
	headN  int     // bytes of head read so far
	size   int     // the current message's length
	remain int     // bytes of the current message still to come
}

// Watch wraps c.
func Watch(c net.Conn) *Conn { return &Conn{Conn: c} }

// Counts returns how many encrypted and plain messages the server has sent so far.
func (c *Conn) Counts() (sealed, plain int64) { return c.sealed.Load(), c.plain.Load() }

// Require makes every later plain message from the server end the connection with
// ErrPlaintext.
func (c *Conn) Require() { c.require.Store(true) }

// Read reads from the connection and classifies every message whose start it sees.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.scan(p[:n]) {
		c.Conn.Close()
		return 0, ErrPlaintext
	}
	return n, err
}

// scan advances the frame state over b; it reports a plain message that is not allowed.
func (c *Conn) scan(b []byte) (refused bool) {
	for len(b) > 0 {
		if c.remain > 0 {
			k := min(c.remain, len(b))
			c.remain -= k
			b = b[k:]
			continue
		}
		if c.headN < 4 {
			k := copy(c.head[c.headN:4], b)
			c.headN += k
			b = b[k:]
			if c.headN == 4 {
				c.size = int(c.head[1])<<16 | int(c.head[2])<<8 | int(c.head[3])
				if c.size < 4 { // no room for a protocol id: not a message go-smb2 accepts
					c.remain, c.headN = c.size, 0
				}
			}
			continue
		}
		k := copy(c.head[c.headN:], b)
		c.headN += k
		b = b[k:]
		if c.headN < len(c.head) {
			continue
		}
		c.remain, c.headN = c.size-4, 0
		if c.head[4] == 0xFD && string(c.head[5:8]) == "SMB" {
			c.sealed.Add(1)
			continue
		}
		c.plain.Add(1)
		if c.require.Load() {
			return true
		}
	}
	return false
}
