package dumpshare

import (
	"context"
	"fmt"
	"hash"
	"io"
	"sync"
)

// Pipeline buffers: reading, hashing and writing overlap, so a copy runs at the pace of its
// slowest stage instead of their sum, while memory stays at pipeBufs*pipeBufSize.
const (
	pipeBufSize = 4 << 20
	pipeBufs    = 4
)

// hashCopy copies src to w and hashes the bytes, as a three-stage pipeline: the calling
// goroutine reads src (so src is never touched after hashCopy returns), one goroutine
// hashes, one writes. Every buffer is hashed before it is written and written in order.
// Buffers come from newBuf (nil: plain allocations); size, when known (>= 0), keeps them
// small for small files. A failure of any stage, or the end of
// ctx, stops the others; the first error is returned.
func hashCopy(ctx context.Context, w io.Writer, src io.Reader, size int64, h hash.Hash, newBuf func(int) []byte) (int64, error) {
	if newBuf == nil {
		newBuf = func(n int) []byte { return make([]byte, n) }
	}
	bufSize := pipeBufSize
	if size >= 0 && size < pipeBufSize {
		bufSize = int(size+4096) &^ 4095 // one buffer, with room to see the end of src
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	free := make(chan []byte, pipeBufs)
	toHash := make(chan []byte, pipeBufs)
	toWrite := make(chan []byte, pipeBufs)
	allocated := 0

	// Both stages drain their input until it is closed, doing no work once ctx has ended,
	// so neither can block the other (or the reader) forever.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(toWrite)
		for b := range toHash {
			if ctx.Err() == nil {
				h.Write(b)
			}
			toWrite <- b
		}
	}()
	go func() {
		defer wg.Done()
		for b := range toWrite {
			if ctx.Err() == nil {
				n, err := w.Write(b)
				if err == nil && n != len(b) {
					err = io.ErrShortWrite
				}
				if err != nil {
					cancel(fmt.Errorf("write: %w", err))
				}
			}
			free <- b[:cap(b)]
		}
	}()

	var total int64
	var readErr error
read:
	for ctx.Err() == nil {
		var buf []byte
		if allocated < pipeBufs {
			select {
			case buf = <-free:
			default:
				buf = newBuf(bufSize)
				allocated++
			}
		} else {
			select {
			case buf = <-free:
			case <-ctx.Done():
				break read
			}
		}
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			total += int64(n)
			toHash <- buf[:n] // never blocks: at most pipeBufs buffers exist
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			readErr = err
			cancel(err)
			break
		}
	}
	close(toHash)
	wg.Wait()
	if readErr != nil {
		return total, readErr
	}
	if err := context.Cause(ctx); err != nil {
		return total, err
	}
	return total, nil
}
