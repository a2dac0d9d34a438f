package bytesize

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Size
		err  string
	}{
		{"0", 0, ""},
		{"1073741824", GiB, ""},
		{"10GiB", 10 * GiB, ""},
		{"10 gib", 10 * GiB, ""},
		{"1.5TiB", TiB + TiB/2, ""},
		{"500MB", 500_000_000, ""},
		{"4k", 4096, ""},
		{"12B", 12, ""},
		{"", 0, `size "": empty`},
		{"-1GiB", 0, `size "-1GiB": want a number of bytes or a number with a unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},
		{"ten", 0, `size "ten": want a number of bytes or a number with a unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB)`},
		{"99999999999TiB", 0, `size "99999999999TiB": too large`},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if got != c.want || msg != c.err {
			t.Errorf("Parse(%q) = %d, %q; want %d, %q", c.in, got, msg, c.want, c.err)
		}
	}
}

func TestStringAndYAML(t *testing.T) {
	for _, c := range []struct {
		s    Size
		str  string
		hum  string
		back Size
	}{{10 * GiB, "10GiB", "10.0 GiB", 10 * GiB}, {1536, "3KiB" /* not exact */, "1.5 KiB", 1536}, {1000, "1000", "1000 B", 1000}} {
		if c.s == 1536 {
			c.str = "1536"
		}
		if c.s.String() != c.str || c.s.Human() != c.hum {
			t.Errorf("%d: String %q Human %q, want %q %q", c.s, c.s.String(), c.s.Human(), c.str, c.hum)
		}
		var v struct {
			S Size `yaml:"s"`
		}
		if err := yaml.Unmarshal([]byte("s: "+c.s.String()), &v); err != nil || v.S != c.back {
			t.Errorf("yaml %q: %d, %v", c.s.String(), v.S, err)
		}
	}
	var v struct {
		S Size `yaml:"s"`
	}
	if err := yaml.Unmarshal([]byte("s: lots\n"), &v); err == nil || err.Error() != "yaml: unmarshal errors:\n  "+`line 1: size "lots": want a number of bytes or a number with a unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB)` {
		t.Errorf("bad size: %v", err)
	}
}
