package notifytest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden payloads in testdata/")

// Golden compares got with testdata/<name>, or rewrites it with -update.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// RunGolden renders every golden case and compares it with testdata/<case>.golden<ext>.
func RunGolden(t *testing.T, n Notifier, ext string) {
	t.Helper()
	msgs := Messages()
	names := make([]string, 0, len(msgs))
	for k := range msgs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := n.Render(msgs[name])
			if err != nil {
				t.Fatal(err)
			}
			Golden(t, name+".golden"+ext, b)
		})
	}
}

// RunInjection renders Hostile and checks that nothing in Forbidden survived, and that the
// hostile values are still visible (escaped, not dropped), so people see what the dump said.
func RunInjection(t *testing.T, n Notifier, mustContain ...string) string {
	t.Helper()
	b, err := n.Render(&chatMessageHostile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, f := range Forbidden {
		if strings.Contains(s, f) {
			t.Errorf("payload contains %q:\n%s", f, s)
		}
	}
	for _, m := range mustContain {
		if !strings.Contains(s, m) {
			t.Errorf("payload lacks %q (escaped hostile value):\n%s", m, s)
		}
	}
	return s
}
