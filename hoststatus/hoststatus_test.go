package hoststatus

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

// What the fetcher reports reaches a reader in another process: state changes with their
// time, the last good sweep kept while a host fails.
func TestRecorderToReader(t *testing.T) {
	q := embeddedtest.Start(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec, err := NewRecorder(ctx, q.JS, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	go rec.Run(ctx)
	rd, _ := NewReader(ctx, q.JS, 1)
	go rd.Watch(ctx)
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	rec.HostSwept("FS-01", StateOK, "", t0)
	rec.HostSwept("FS-01", "auth", "logon failed", t0.Add(time.Minute))
	want := Status{Host: "FS-01", State: "auth", Error: "logon failed", Checked: t0.Add(time.Minute), Since: t0.Add(time.Minute), LastOK: t0}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, ok := rd.Get("fs-01")
		if ok && got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader has %+v, want %+v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if all := rd.All(); len(all) != 1 {
		t.Errorf("All = %+v", all)
	}
}
