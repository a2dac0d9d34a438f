package notifier

import (
	"context"
	"io"
	"testing"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
)

// BenchmarkRender measures rendering one verdict per integration.
func BenchmarkRender(b *testing.B) {
	for _, typ := range []string{TypeSlack, TypeTeams, TypeMattermost, TypeWebhook, TypeConsole} {
		b.Run(typ, func(b *testing.B) {
			n, err := New(Options{Targets: []TargetOptions{{Name: "b", Type: typ, URL: secretOf("https://hooks.example/x")}}}, io.Discard, zerolog.Nop(), nil)
			if err != nil {
				b.Fatal(err)
			}
			m := &chat.Message{Kind: chat.KindVerdict, Result: notifytest.Known()}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.targets[0].integ.Render(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandleGrouped measures folding a repeat into an open group (memory state).
func BenchmarkHandleGrouped(b *testing.B) {
	n, err := New(Options{Targets: []TargetOptions{{Name: "b", Type: TypeConsole}}}, io.Discard, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	tg, st := n.targets[0], newMemStore()
	tg.groups = map[string]*groupState{}
	r := crash("H", "1")
	seq := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		if err := n.handle(context.Background(), tg, st, r, seq, nil); err != nil {
			b.Fatal(err)
		}
	}
}
