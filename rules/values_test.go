package rules

import (
	"testing"
	"time"
)

func TestBaseCode(t *testing.T) {
	for in, want := range map[uint64]uint64{
		0x1000007e: 0x7e, 0x1000008e: 0x8e, 0x100000ea: 0xea, 0x27: 0x27,
		0xc000021a: 0xc000021a, 0xdeaddead: 0xdeaddead, 0x10000000: 0,
	} {
		if got := baseCode(in); got != want {
			t.Errorf("baseCode(%#x) = %#x, want %#x", in, got, want)
		}
	}
}

func TestParseDriverTime(t *testing.T) {
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"Tue Jul 19 21:10:15 2005 (42DDB287)", at("2005-07-20T02:10:15Z"), true},
		{"***** Invalid (9371275D)", at("2048-05-21T09:33:17Z"), true},
		{"42ddb287", at("2005-07-20T02:10:15Z"), true},
		{"0x42DDB287", at("2005-07-20T02:10:15Z"), true},
		{"1121825415", at("2005-07-20T02:10:15Z"), true},
		{"2005-07-20T02:10:15Z", at("2005-07-20T02:10:15Z"), true},
		{"", time.Time{}, false},
		{"unknown", time.Time{}, false},
		{"0x1ffffffff", time.Time{}, false},
	}
	for _, tc := range tests {
		got, ok := parseDriverTime(tc.in)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseDriverTime(%q) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"10.0.19041.1", "10.0.19041.1", true},
		{"29,0,0,171", "29.0.0.171", true},
		{"6.1.7601.17514 (win7sp1_rtm.101119-1850)", "6.1.7601.17514", true},
		{"13.0.1.", "13.0.1", true},
		{"v1", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		v, ok := parseVersion(tc.in)
		if ok != tc.ok || (ok && v.String() != tc.want) {
			t.Errorf("parseVersion(%q) = %v %v, want %q %v", tc.in, v, ok, tc.want, tc.ok)
		}
	}
	a, _ := parseVersion("10.0")
	b, _ := parseVersion("10.0.0.0")
	c, _ := parseVersion("10.0.1")
	if a.compare(b) != 0 || a.compare(c) != -1 || c.compare(a) != 1 {
		t.Error("version compare")
	}
}

func TestParseHex(t *testing.T) {
	for in, want := range map[string]uint64{"0x27": 0x27, "27": 0x27, "fffff800`01234567": 0xfffff80001234567, "FFFFFFFFC0000005": 0xffffffffc0000005} {
		if got, ok := parseHex(in); !ok || got != want {
			t.Errorf("parseHex(%q) = %#x %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "0x", "zz", "12345678901234567"} {
		if _, ok := parseHex(bad); ok {
			t.Errorf("parseHex(%q) accepted", bad)
		}
	}
}
