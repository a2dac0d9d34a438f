package fetcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/bsodwatch/bsodwatch/dumpshare"
)

// ReasonShareFull is the Reason of a copy deferred, or failed, for want of space on the share.
const ReasonShareFull = "share_full"

// reserve holds room for a copy of size bytes on the share (Deps.Guard), or says why there
// is none: an error wrapping dumpshare.ErrNoSpace defers the dump to a later sweep. The
// share's own free space is read once per copy; a compressed copy reserves its whole size.
func (f *Fetcher) reserve(ctx context.Context, size int64) (release func(), err error) {
	if f.d.Guard == nil {
		return func() {}, nil
	}
	release, err = f.d.Guard.Reserve(ctx, size)
	if err != nil && errors.Is(err, dumpshare.ErrNoSpace) {
		return nil, fmt.Errorf("%w: %w", errGuarded, err)
	}
	return release, err
}

// errGuarded marks a copy the guard refused before it started.
var errGuarded = errors.New("copy deferred")

// defer_ records a dump left for a later sweep because the share has no room for it. Nothing
// is recorded in the state, so the next sweep after space is back copies it.
func (f *Fetcher) defer_(h Host, p string, err error, rep *Report) {
	rep.Deferred++
	f.m.deferred.WithLabelValues(ReasonShareFull).Inc()
	f.m.sweepErrors.WithLabelValues(ReasonShareFull).Inc()
	rep.Errors = append(rep.Errors, HostError{Host: h.Name, Path: p, Reason: ReasonShareFull, Error: err.Error()})
	msg := "the share has no room for this dump; copying it once space is back"
	if !errors.Is(err, errGuarded) {
		msg = "copy failed: the share filled during the copy (nothing was kept); copying it again next sweep"
	}
	f.log.Warn().Str("host", h.Name).Str("path", p).Str("reason", ReasonShareFull).Err(err).Msg(msg)
}
