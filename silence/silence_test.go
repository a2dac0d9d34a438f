package silence_test

import (
	"context"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
	"github.com/bsodwatch/bsodwatch/silence"
)

func TestActive(t *testing.T) {
	js := embeddedtest.Start(t, "").JS
	ctx := context.Background()
	s := silence.KV{JS: js}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	got, err := s.Active(ctx, now)
	if err != nil || len(got) != 0 {
		t.Fatalf("no bucket yet: %v, %v", got, err)
	}
	for _, e := range []silence.Entry{
		{Bucket: "AV_symevent!Foo+0x12", Kind: silence.KindSilence, Until: now.Add(time.Hour), By: "ops"},
		{Bucket: "0x1000007e_amdppm.sys", Kind: silence.KindAck},
		{Bucket: "expired bucket", Kind: silence.KindSilence, Until: now.Add(-time.Minute)},
	} {
		if err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, silence.Entry{Bucket: "x", Kind: "mute"}); err == nil {
		t.Fatal("a bad kind was stored")
	}
	// A stray key and a value that does not decode are ignored.
	kv, _ := js.KeyValue(ctx, silence.Bucket)
	kv.Put(ctx, "other", []byte("{}"))
	kv.Put(ctx, silence.Key("garbled"), []byte("not json"))
	got, err = s.Active(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["AV_symevent!Foo+0x12"].By != "ops" || got["0x1000007e_amdppm.sys"].Kind != silence.KindAck {
		t.Fatalf("Active = %v", got)
	}
	if got, _ := s.Active(ctx, now.Add(2*time.Hour)); len(got) != 1 {
		t.Fatalf("after the silence expired: %v", got)
	}
	if k := silence.Key("AV_symevent!Foo+0x12"); k != "b.QVZfc3ltZXZlbnQhRm9vKzB4MTI" {
		t.Fatalf("key layout changed: %s", k)
	}
}
