// Package bytesize is an amount of bytes as the configuration writes it: a whole number of
// bytes (1073741824) or a number with a unit (1GiB, 500MB, 1.5TiB). Binary units (KiB, MiB,
// GiB, TiB) count in 1024s, decimal ones (KB, MB, GB, TB) in 1000s.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Size is a number of bytes.
type Size int64

// Units.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

var units = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// Parse reads a size: digits, optionally with a fraction and a unit (spaces allowed between).
func Parse(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, fmt.Errorf("size %q: empty", s)
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("size %q: want a number of bytes or a number with a unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
	}
	b := v * mult
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return Size(math.Round(b)), nil
}

// String writes the size with the largest binary unit that divides it exactly.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		v    Size
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s != 0 && s%u.v == 0 {
			return strconv.FormatInt(int64(s/u.v), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Human writes the size rounded to one decimal of the largest fitting binary unit, for
// people: "1.5 GiB", "512 B".
func (s Size) Human() string {
	n := int64(s)
	if n < 0 {
		return "-" + Size(-n).Human()
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB", "PiB"} {
		if v < 1024 {
			break
		}
		v, suffix = v/1024, u
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

// UnmarshalYAML reads a whole number of bytes or a size with a unit. A bad value is a
// yaml.TypeError, so that the decoder goes on and reports the file's other mistakes too.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a size such as 10GiB", n.Line)}}
	}
	v, err := Parse(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, err)}}
	}
	*s = v
	return nil
}

// MarshalYAML writes the size as String does.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }
