package dumpshare

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bsodwatch/bsodwatch/internal/bytesize"
)

// Space is what a share's volume has room for.
type Space struct {
	// Free is the bytes this process's user may still write (quotas included).
	Free int64
	// Total is the volume's size.
	Total int64
}

// ErrNoSpace is wrapped when a share has no room for a dump: the volume filled during a
// write (ENOSPC, STATUS_DISK_FULL, a quota), or a Guard refused the copy beforehand. The
// temporary file is gone when it is returned; nothing was put in place.
var ErrNoSpace = errors.New("share full")

// Guard keeps a volume's free space at or above a floor while several writers share it:
// Reserve admits a write of n bytes only if the free space, less what earlier admitted
// writes still hold, stays at or above MinFree after it.
type Guard struct {
	// Space reads the volume's free space (a Share's Space, or LocalSpace of a directory).
	Space func(context.Context) (Space, error)
	// MinFree is the floor (share.min_free). Zero still refuses a write larger than the free
	// space.
	MinFree int64
	// What names the volume in messages ("share", "analyzer temporary directory").
	What string
	// Observe, when set, is told the free space at every check (a gauge).
	Observe func(free int64)

	mu       sync.Mutex
	reserved int64
}

// Reserve checks the space for a write of n bytes and holds n until release is called. The
// error wraps ErrNoSpace when the write would break the floor, and says by how much.
func (g *Guard) Reserve(ctx context.Context, n int64) (release func(), err error) {
	sp, err := g.Space(ctx)
	if err != nil {
		return nil, fmt.Errorf("free space of the %s: %w", g.what(), err)
	}
	if g.Observe != nil {
		g.Observe(sp.Free)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	left := sp.Free - g.reserved - n
	if left < g.MinFree {
		held := ""
		if g.reserved > 0 {
			held = fmt.Sprintf(" (%s of it held by copies in progress)", bytesize.Size(g.reserved).Human())
		}
		return nil, fmt.Errorf("%w: the %s has %s free%s, this write needs %s and %s must stay free",
			ErrNoSpace, g.what(), bytesize.Size(sp.Free).Human(), held, bytesize.Size(n).Human(), bytesize.Size(g.MinFree).Human())
	}
	g.reserved += n
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.reserved -= n
			g.mu.Unlock()
		})
	}, nil
}

func (g *Guard) what() string {
	if g.What == "" {
		return "share"
	}
	return g.What
}

// LocalSpace returns the free and total space of the volume holding dir.
func LocalSpace(dir string) (Space, error) { return statSpace(dir) }
