package chat

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"
	"unicode/utf8"

	"github.com/bsodwatch/bsodwatch/notifier/templates"
)

func TestCapRunes(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"short", 10, "short", false},
		{"exactly10!", 10, "exactly10!", false},
		{"abcdefghijk", 10, "abcdefghi…", true},
		{"words and    spaces", 14, "words and…", true},
		{"ééééééééééé", 5, "éééé…", true},        // runes, not bytes
		{"abce\u0301\u0301fgh", 6, "abc…", true}, // never between e and its accents
		{"ab👩\u200d💻cdefgh", 5, "ab…", true},     // nor inside a joined emoji
		{strings.Repeat("x", 40000), 100, strings.Repeat("x", 99) + "…", true},
		{"anything", 0, "anything", false}, // no cap
	}
	for _, tt := range tests {
		got, cut := CapRunes(tt.in, tt.n)
		if got != tt.want || cut != tt.cut {
			t.Errorf("CapRunes(%.20q, %d) = %q, %v; want %q, %v", tt.in, tt.n, got, cut, tt.want, tt.cut)
		}
		if tt.n > 0 && utf8.RuneCountInString(got) > tt.n {
			t.Errorf("CapRunes(%.20q, %d) is %d runes", tt.in, tt.n, utf8.RuneCountInString(got))
		}
	}
}

func TestCapList(t *testing.T) {
	got, cut := capList([]string{"a", "bbbbbb", "c", "d"}, Cap{Runes: 4, Items: 2})
	if want := []string{"a", "bbb…", "…2 more"}; !slices.Equal(got, want) || !cut {
		t.Errorf("capList = %q, %v; want %q, true", got, cut, want)
	}
	if got, cut := capList([]string{"a", "b"}, Cap{Items: 2}); len(got) != 2 || cut {
		t.Errorf("capList of a list within its cap = %q, %v", got, cut)
	}
}

func TestSafeCut(t *testing.T) {
	tests := []struct {
		in     string
		n      int
		delims []string
		head   string
	}{
		{"aaaa &amp; bbbb", 7, nil, "aaaa"},         // not inside the entity
		{"aaaa&lt;bbbb", 6, nil, "aaaa"},            // nor with no space near
		{`aaaa\*bbbb`, 5, nil, "aaaa"},              // not between a backslash and its character
		{"x `code span` y", 9, []string{"`"}, "x "}, // not inside a code span
	}
	for _, tt := range tests {
		head, tail := SafeCut(tt.in, tt.n, tt.delims...)
		if head != tt.head || head+tail != tt.in {
			t.Errorf("SafeCut(%q, %d) = %q + %q; want %q first", tt.in, tt.n, head, tail, tt.head)
		}
	}
	// An open bold is never left open: the cut goes before it.
	head, _ := SafeCut("ab **bold** and more", 6, "**")
	if strings.Count(head, "**")%2 != 0 {
		t.Errorf("SafeCut left ** open: %q", head)
	}
	head, _ = SafeCut("plain text here", 9)
	if head != "plain" {
		t.Errorf("SafeCut at a space: %q", head)
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"line1\nline2\t# x", "line1 line2 # x"},
		{"http://evil.example/x", "http:\u200b//evil.example\u200b/x"},
		{"see www.evil.example", "see www\u200b.evil.example"},
		{"mailto:a@b.c javascript:alert(1)", "mailto:\u200ba@b.c javascript:\u200balert(1)"},
		{"**evil.com/x", "**evil.com\u200b/x"},
		{"a-b.co/", "a-b.co\u200b/"},
		{"FS-07/2026-11-20/MEMORY.DMP", "FS-07/2026-11-20/MEMORY.DMP"}, // no domain
		{`C:\Windows\MEMORY.DMP at 10:30`, `C:\Windows\MEMORY.DMP at 10:30`},
		{"Reason: cdb failed", "Reason: cdb failed"},
		{"abc\u202edef", "abcdef"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFitDropsLeastImportantFirst renders a view with every part filled against a limit
// that fits only a little: parts go in DropOrder, and what is never dropped stays.
func TestFitDropsLeastImportantFirst(t *testing.T) {
	tmpl := template.Must(template.New("t").Funcs(templates.Funcs).Parse(
		`{{.Host}} {{.Headline}} {{.Title}} {{.Module}} {{.Reason}} {{.ResultURL}}` +
			`{{range .Evidence}} E:{{.}}{{end}}{{range .OtherTitles}} O:{{.}}{{end}}{{range .Modules}} M:{{.}}{{end}}` +
			` D:{{.Dump}}{{range .Remedy}} R:{{.}}{{end}} S:{{.Summary}} P:{{.Process}} V:{{.Version}}{{range .Flags}} F:{{.}}{{end}}`))
	build := func(v *View) ([]byte, error) {
		var b strings.Builder
		err := tmpl.Execute(&b, v)
		return []byte(b.String()), err
	}
	newView := func() *View {
		long := strings.Repeat("x", 100)
		return &View{Host: "H", Headline: "HEADLINE", Title: "TITLE", Module: "MOD.SYS", Reason: "REASON", ResultURL: "URL",
			Evidence: []string{long}, OtherTitles: []string{long}, Modules: []string{long}, Dump: long,
			Remedy: []string{"first", long}, Summary: long, Process: long, Version: long, Flags: []string{long}}
	}
	full, _ := build(newView())
	for limit := len(full); limit > 0; limit -= 50 {
		v := newView()
		b, err := Fit(v, build, func(b []byte) error {
			if len(b) > limit {
				return fmt.Errorf("%d > %d", len(b), limit)
			}
			return nil
		})
		if err != nil {
			if !strings.Contains(err.Error(), ErrTooBig.Error()) {
				t.Fatalf("limit %d: %v", limit, err)
			}
			if limit > 60 {
				t.Fatalf("limit %d: gave up with the must-keep parts %d bytes: %v", limit, len("H HEADLINE TITLE MOD.SYS REASON URL"), err)
			}
			continue
		}
		s := string(b)
		for _, keep := range []string{"H", "HEADLINE", "TITLE", "MOD.SYS", "REASON", "URL"} {
			if !strings.Contains(s, keep) {
				t.Errorf("limit %d: lost %s", limit, keep)
			}
		}
		// The parts dropped are a prefix of DropOrder (those with something to drop).
		var order []string
		for _, p := range DropOrder {
			order = append(order, p.Name)
		}
		last := -1
		for _, d := range v.Dropped {
			i := slices.Index(order, d)
			if i <= last {
				t.Errorf("limit %d: dropped %q out of order: %v", limit, d, v.Dropped)
			}
			last = i
		}
		if len(v.Dropped) > 0 && (v.Dropped[0] != "evidence" || !v.Shortened) {
			t.Errorf("limit %d: dropped %v first (shortened %v)", limit, v.Dropped, v.Shortened)
		}
		if limit < len(full) && len(v.Dropped) == 0 {
			t.Errorf("limit %d: nothing dropped", limit)
		}
	}
}

func TestNewViewCapsEveryValue(t *testing.T) {
	// Every field in Caps names a field of View: a typo would silently cap nothing.
	v := &View{}
	for name := range Caps {
		if !hasField(v, name) {
			t.Errorf("Caps names %q, which View does not have", name)
		}
	}
}

func hasField(v *View, name string) bool {
	_, ok := reflect.TypeOf(*v).FieldByName(name)
	return ok
}
