package optcheck

import (
	"errors"
	"fmt"
	"testing"
)

func TestAddNests(t *testing.T) {
	var inner Problems
	inner.Addf("url_file", "open %s: no such file", "x")
	inner.Addf("", "no targets")
	var ps Problems
	ps.Add(Index("targets", 1), inner.Err())
	ps.Add("interval", errors.New("negative"))
	ps.Add("ok", nil)
	ps.Add("joined", errors.Join(Problems{{Key: "a", Msg: "bad a"}}, fmt.Errorf("plain")))
	want := []string{
		"targets[1].url_file: open x: no such file",
		"targets[1]: no targets",
		"interval: negative",
		"joined.a: bad a",
		"joined: plain",
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems %v, want %d", len(ps), ps, len(want))
	}
	for i, w := range want {
		if got := ps[i].Error(); got != w {
			t.Errorf("problem %d: got %q, want %q", i, got, w)
		}
	}
	if (Problems{}).Err() != nil {
		t.Error("empty Problems is not a nil error")
	}
}

func TestJoin(t *testing.T) {
	for _, tt := range []struct{ a, b, want string }{
		{"", "x", "x"}, {"x", "", "x"}, {"a", "b", "a.b"}, {"a", "[0]", "a[0]"}, {"a", "[0].b", "a[0].b"},
	} {
		if got := Join(tt.a, tt.b); got != tt.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

type wrapper struct{ err error }

func (w wrapper) Error() string { return w.err.Error() }
func (w wrapper) Unwrap() error { return w.err }

func TestAddSeesThroughAWrapperThatAddsNothing(t *testing.T) {
	var ps Problems
	ps.Add("analyzer", wrapper{Problems{{Key: "engine", Msg: "bad"}, {File: "r.yaml", Line: 3, Column: 5, Msg: "typo"}}})
	if len(ps) != 2 || ps[0].Error() != "analyzer.engine: bad" || ps[1].Error() != "r.yaml:3:5: typo" {
		t.Errorf("%v", ps)
	}
}
