package console_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/notifier/console"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
)

func TestGolden(t *testing.T) {
	n, err := console.New(console.Config{Out: new(bytes.Buffer)})
	if err != nil {
		t.Fatal(err)
	}
	notifytest.RunGolden(t, n, ".txt")
}

func TestNotifyWritesOneBlockPerMessage(t *testing.T) {
	var buf bytes.Buffer
	n, err := console.New(console.Config{Out: &buf})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*chat.Message{{Kind: chat.KindVerdict, Result: notifytest.Known()}, {Kind: chat.KindVerdict, Result: notifytest.Hostile()}} {
		if retry, err := n.Notify(context.Background(), m); err != nil || retry {
			t.Fatalf("Notify: retry=%v err=%v", retry, err)
		}
	}
	blocks := strings.Split(strings.TrimSpace(buf.String()), "\n\n")
	if len(blocks) != 2 {
		t.Fatalf("want 2 blocks, got %d:\n%s", len(blocks), buf.String())
	}
	// A newline inside a dump value must not forge a line of its own.
	if strings.Contains(buf.String(), "\n# Injected heading") {
		t.Errorf("control characters survived:\n%s", buf.String())
	}
}
