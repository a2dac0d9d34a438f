package dumpshare_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bsodwatch/bsodwatch/dumpshare"
)

func TestGuard(t *testing.T) {
	free := int64(100 << 20)
	var seen int64
	g := &dumpshare.Guard{
		Space: func(context.Context) (dumpshare.Space, error) {
			return dumpshare.Space{Free: free, Total: 1 << 30}, nil
		},
		MinFree: 20 << 20,
		Observe: func(f int64) { seen = f },
	}
	ctx := context.Background()
	r1, err := g.Reserve(ctx, 50<<20)
	if err != nil || seen != free {
		t.Fatalf("first reservation: %v (observed %d)", err, seen)
	}
	// 100 free, 50 held, 40 more would leave 10 < 20
	_, err = g.Reserve(ctx, 40<<20)
	want := "share full: the share has 100.0 MiB free (50.0 MiB of it held by copies in progress), this write needs 40.0 MiB and 20.0 MiB must stay free"
	if !errors.Is(err, dumpshare.ErrNoSpace) || err.Error() != want {
		t.Fatalf("second reservation: %v\nwant %s", err, want)
	}
	r1()
	r1() // twice is harmless
	r2, err := g.Reserve(ctx, 40<<20)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	r2()
	g.What = "analyzer temporary directory"
	free = 10 << 20
	if _, err := g.Reserve(ctx, 1); err == nil || err.Error() != "share full: the analyzer temporary directory has 10.0 MiB free, this write needs 1 B and 20.0 MiB must stay free" {
		t.Fatalf("below the floor: %v", err)
	}
	broken := &dumpshare.Guard{Space: func(context.Context) (dumpshare.Space, error) { return dumpshare.Space{}, errors.New("no route") }}
	if _, err := broken.Reserve(ctx, 1); err == nil || err.Error() != "free space of the share: no route" || errors.Is(err, dumpshare.ErrNoSpace) {
		t.Fatalf("unreadable space: %v", err)
	}
}

func TestParseLayout(t *testing.T) {
	for _, c := range []struct {
		rel, host, name string
		ok              bool
	}{
		{"srv01/20240501T123456Z-MEMORY.DMP", "srv01", "MEMORY.DMP", true},
		{"srv01/20240501T123456Z-MEMORY.DMP.zst", "srv01", "MEMORY.DMP", true},
		{"srv01/MEMORY.DMP", "", "", false},
		{"srv01/20240501T123456Z-", "", "", false},
		{"srv01/2024050XT123456Z-x.dmp", "", "", false},
		{"a/b/20240501T123456Z-x.dmp", "", "", false},
		{"20240501T123456Z-x.dmp", "", "", false},
	} {
		host, ts, name, ok := dumpshare.ParseLayout(c.rel)
		if ok != c.ok || host != c.host || name != c.name || (ok && ts.Format("20060102T150405Z") != "20240501T123456Z") {
			t.Errorf("ParseLayout(%q) = %q %s %q %v", c.rel, host, ts, name, ok)
		}
	}
}
