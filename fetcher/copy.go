package fetcher

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// rangeReader reads a file with several concurrent ReadAt calls of one chunk each and hands
// the chunks out in order, so the bytes can be hashed and written sequentially. The file may
// be open more than once (one handle per SMB session): worker i reads through handle
// i%len(handles). Memory is bounded by (2*workers + 1) chunks. A watchdog cancels the file's context (cancelFile)
// when no chunk arrives for stallAfter, which aborts SMB reads stuck on a silent server.
type rangeReader struct {
	ctx        context.Context // the readers' loops; a child of the file's context
	stop       context.CancelFunc
	cancelFile context.CancelCauseFunc
	order      chan chan chunk
	pool       sync.Pool
	wg         sync.WaitGroup
	last       atomic.Int64 // unix nanos of the last progress
	done       chan struct{}

	cur    []byte
	curBuf *[]byte
	err    error

	size, delivered int64
	start, lastLog  time.Time
	maxRate         int64
	progressEvery   time.Duration
	log             zerolog.Logger
}

type chunk struct {
	buf *[]byte
	n   int
	err error
}

type readTask struct {
	off int64
	n   int
	out chan chunk
}

type copyParams struct {
	workers, chunkSize int
	maxRate            int64
	stallAfter         time.Duration
	progressEvery      time.Duration
	log                zerolog.Logger
}

func newRangeReader(fileCtx context.Context, cancelFile context.CancelCauseFunc, ras []io.ReaderAt, size int64, p copyParams) *rangeReader {
	ctx, stop := context.WithCancel(fileCtx)
	r := &rangeReader{
		ctx: ctx, stop: stop, cancelFile: cancelFile,
		order: make(chan chan chunk, 2*p.workers),
		done:  make(chan struct{}),
		size:  size, start: time.Now(), lastLog: time.Now(),
		maxRate: p.maxRate, progressEvery: p.progressEvery, log: p.log,
	}
	cs := p.chunkSize
	r.pool.New = func() any { b := make([]byte, cs); return &b }
	r.last.Store(time.Now().UnixNano())
	tasks := make(chan readTask)
	r.wg.Add(1 + p.workers)
	go func() { // producer: hands out offsets in order
		defer r.wg.Done()
		defer close(tasks)
		defer close(r.order)
		for off := int64(0); off < size; off += int64(cs) {
			t := readTask{off: off, n: int(min(int64(cs), size-off)), out: make(chan chunk, 1)}
			select {
			case r.order <- t.out:
			case <-ctx.Done():
				return
			}
			select {
			case tasks <- t:
			case <-ctx.Done():
				t.out <- chunk{err: ctx.Err()}
				return
			}
		}
	}()
	for i := range p.workers {
		ra := ras[i%len(ras)]
		go func() {
			defer r.wg.Done()
			for t := range tasks {
				if ctx.Err() != nil {
					t.out <- chunk{err: ctx.Err()}
					continue
				}
				buf := r.pool.Get().(*[]byte)
				n, err := ra.ReadAt((*buf)[:t.n], t.off)
				if n == t.n {
					err = nil // io.ReaderAt may report EOF with the last full chunk
				} else if err == nil || err == io.EOF {
					err = fmt.Errorf("file shrank while being read: %d of %d bytes at offset %d: %w", n, t.n, t.off, io.ErrUnexpectedEOF)
				}
				r.last.Store(time.Now().UnixNano())
				t.out <- chunk{buf: buf, n: n, err: err}
			}
		}()
	}
	go r.watchdog(fileCtx, p.stallAfter)
	return r
}

func (r *rangeReader) watchdog(fileCtx context.Context, limit time.Duration) {
	t := time.NewTicker(max(limit/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-fileCtx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, r.last.Load())) > limit {
				r.cancelFile(fmt.Errorf("%w (%s)", errStalled, limit))
				return
			}
		}
	}
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(r.cur) == 0 {
		if r.curBuf != nil {
			r.pool.Put(r.curBuf)
			r.curBuf = nil
		}
		ch, ok := <-r.order
		if !ok {
			if err := r.ctx.Err(); err != nil {
				r.err = r.cause(err)
				return 0, r.err
			}
			r.err = io.EOF
			return 0, io.EOF
		}
		var c chunk
		select {
		case c = <-ch:
		case <-r.ctx.Done():
			r.err = r.cause(r.ctx.Err())
			return 0, r.err
		}
		if c.err != nil {
			r.err = r.cause(c.err)
			return 0, r.err
		}
		r.cur, r.curBuf = (*c.buf)[:c.n], c.buf
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.delivered += int64(n)
	r.last.Store(time.Now().UnixNano())
	r.pace()
	return n, nil
}

// cause prefers the watchdog's reason over a bare "context canceled".
func (r *rangeReader) cause(err error) error {
	if c := context.Cause(r.ctx); c != nil && c != context.Canceled {
		return fmt.Errorf("%w: %w", c, err)
	}
	return err
}

// pace sleeps to honour maxRate and logs progress of long copies.
func (r *rangeReader) pace() {
	now := time.Now()
	if r.maxRate > 0 {
		due := r.start.Add(time.Duration(float64(r.delivered) / float64(r.maxRate) * float64(time.Second)))
		if d := due.Sub(now); d > 0 {
			select {
			case <-time.After(d):
			case <-r.ctx.Done():
			}
			now = time.Now()
		}
	}
	if r.progressEvery > 0 && now.Sub(r.lastLog) >= r.progressEvery {
		r.lastLog = now
		el := now.Sub(r.start).Seconds()
		rate := float64(r.delivered) / max(el, 1e-9)
		eta := time.Duration(float64(r.size-r.delivered) / max(rate, 1) * float64(time.Second))
		r.log.Info().Int64("bytes", r.delivered).Int64("size", r.size).
			Str("rate", fmt.Sprintf("%.1f MiB/s", rate/(1<<20))).
			Str("eta", eta.Round(time.Second).String()).Msg("copying")
	}
}

// Close stops the readers and waits for them; the watchdog stays armed until they are out.
func (r *rangeReader) Close() error {
	r.stop()
	r.wg.Wait()
	close(r.done)
	// the buffered results of chunks never consumed go back to the pool with the reader
	return nil
}

// countingReaderAt counts the dump bytes read from a host.
type countingReaderAt struct {
	ra io.ReaderAt
	n  *atomic.Int64
}

func (c countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.ra.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}
