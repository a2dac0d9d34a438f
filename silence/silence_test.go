package silence

import (
	"context"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

func TestStoreSharedAndExpiring(t *testing.T) {
	q := embeddedtest.Start(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := Open(ctx, q.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Open(ctx, q.JS, 1) // another process: the notifier
	go b.Watch(ctx)
	<-b.Ready()
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	bucket := "0xc0000005_crashme!crashme" // '!' is not a KV key character
	if err := a.Put(ctx, Entry{Bucket: bucket, Kind: KindSilence, Until: now.Add(time.Hour), By: "alice", At: now}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !b.Silenced(bucket, now) {
		if time.Now().After(deadline) {
			t.Fatal("the other store did not see the silence")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.Silenced(bucket, now.Add(time.Hour)) || b.Silenced("other", now) {
		t.Error("silenced past its end, or another bucket")
	}
	if got := a.Of(bucket, now); len(got) != 1 || got[0].By != "alice" {
		t.Errorf("Of = %+v", got)
	}
	if err := a.Delete(ctx, KindSilence, bucket); err != nil {
		t.Fatal(err)
	}
	for b.Silenced(bucket, now) {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("the deletion did not reach the other store")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEntryCheck(t *testing.T) {
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{Bucket: "b", Kind: KindAck, Until: now.Add(time.Hour)}, ""},
		{Entry{Bucket: "", Kind: KindAck, Until: now.Add(time.Hour)}, "bucket: want a bucket name of 1 to 512 characters"},
		{Entry{Bucket: "b", Kind: "mute", Until: now.Add(time.Hour)}, `kind "mute": want ack or silence`},
		{Entry{Bucket: "b", Kind: KindSilence, Until: now}, "until: must be in the future"},
		{Entry{Bucket: "b", Kind: KindSilence, Until: now.Add(MaxFor + time.Second)}, "until: at most 2160h0m0s ahead"},
	} {
		got := ""
		if err := tc.e.Check(now); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
}
