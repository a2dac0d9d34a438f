package notifier

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/verdict"
)

// silencer silences buckets until a time.
type silencer map[string]time.Time

func (s silencer) Silenced(bucket string, at time.Time) bool { return at.Before(s[bucket]) }

// A silenced bucket's verdicts are acked without a post while the silence lasts, and
// posted again once it ends; other buckets are not affected.
func TestSilencedBucketNotPosted(t *testing.T) {
	rec := &recorder{}
	n, tg, clk := testNotifier(t, TargetOptions{NoGrouping: true}, rec, zerolog.Nop())
	st := newMemStore()
	ctx := context.Background()
	first := crash("FS-01", "a1")
	bucket := verdict.Ensure(first).Bucket
	n.SetSilencer(silencer{bucket: clk.now().Add(time.Hour)})
	if err := n.handle(ctx, tg, st, first, 1, nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.sent(); len(got) != 0 {
		t.Fatalf("silenced bucket posted %d messages", len(got))
	}
	other := crash("FS-02", "b1")
	other.Analysis.BugcheckCode = "0x50"
	other.Verdict = nil
	if err := n.handle(ctx, tg, st, other, 2, nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.sent(); len(got) != 1 || got[0].Result.Job.ID != "b1" {
		t.Fatalf("another bucket: %d messages", len(got))
	}
	clk.advance(2 * time.Hour)
	if err := n.handle(ctx, tg, st, crash("FS-03", "a2"), 3, nil); err != nil {
		t.Fatal(err)
	}
	if got := rec.sent(); len(got) != 2 || got[1].Result.Job.ID != "a2" {
		t.Fatalf("after the silence ended: %d messages", len(got))
	}
}
