package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mFlag is the bit the kernel sets on a bugcheck code when it was raised by the newer
// KeBugCheck2 path: 0x1000007E is SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M, the same issue as 0x7E.
const mFlag = 0x10000000

// baseCode strips the "_M" flag from a bugcheck code.
func baseCode(c uint64) uint64 {
	if c&^0xffffffff == 0 && c&mFlag != 0 && c&0xe0000000 == 0 {
		return c &^ mFlag
	}
	return c
}

// parseHex reads a hex number as debuggers print it: with or without 0x, with or without
// the x64 backtick ("fffff800`01234567"), in any case.
func parseHex(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = strings.ReplaceAll(s, "`", "")
	if s == "" || len(s) > 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

// parseRuleHex reads a number written in a rule: it must carry 0x, because a bare "27" is
// ambiguous (the debugger prints 0x27 as "27").
func parseRuleHex(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if !strings.HasPrefix(t, "0x") {
		return 0, fmt.Errorf("%q: write hex numbers with 0x, e.g. 0x%s", s, t)
	}
	v, err := strconv.ParseUint(t[2:], 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a hex number", s)
	}
	return v, nil
}

// parseDriverTime reads a driver timestamp in any form the engines produce: lmvm's
// "Tue Jul 19 21:10:15 2005 (42DDB287)" or "***** Invalid (9371275D)", a bare PE
// TimeDateStamp in hex ("42ddb287", "0x42ddb287"), unix seconds in decimal
// ("1121807415"), or RFC 3339.
func parseDriverTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if i := strings.LastIndexByte(s, '('); i >= 0 {
		if j := strings.IndexByte(s[i:], ')'); j > 0 {
			if v, ok := parseHex(s[i+1 : i+j]); ok && v <= 0xffffffff {
				return time.Unix(int64(v), 0).UTC(), true
			}
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	hasPrefix := strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")
	allDigits := strings.Trim(s, "0123456789") == ""
	// A 32-bit TimeDateStamp has at most 8 hex digits; unix seconds after 1973 have 9+
	// decimal digits, so the length tells the two apart.
	if hasPrefix || len(s) <= 8 {
		if v, ok := parseHex(s); ok && v <= 0xffffffff {
			return time.Unix(int64(v), 0).UTC(), true
		}
		return time.Time{}, false
	}
	if allDigits {
		v, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			return time.Unix(v, 0).UTC(), true
		}
	}
	return time.Time{}, false
}

// parseRuleTime reads a timestamp bound written in a rule: a date (2006-01-02), RFC 3339,
// or a PE TimeDateStamp in hex (0x42ddb287).
func parseRuleTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err := parseRuleHex(s)
		if err != nil || v > 0xffffffff {
			return time.Time{}, fmt.Errorf("%q is not a 32-bit hex timestamp", s)
		}
		return time.Unix(int64(v), 0).UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02), an RFC 3339 time or a hex timestamp (0x42ddb287)", s)
}

// version is a dotted version number, compared component by component; missing
// components count as zero.
type version []uint64

// parseVersion reads "10.0.19041.1", "29,0,0,171" or "6.1.7601.17514 (win7sp1_rtm.101119-1850)":
// the leading run of numbers separated by dots or commas.
func parseVersion(s string) (version, bool) {
	s = strings.TrimSpace(s)
	var v version
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			break
		}
		n, err := strconv.ParseUint(s[:i], 10, 64)
		if err != nil {
			return nil, false
		}
		v = append(v, n)
		s = s[i:]
		if len(s) < 2 || (s[0] != '.' && s[0] != ',') || s[1] < '0' || s[1] > '9' {
			break
		}
		s = s[1:]
	}
	return v, len(v) > 0
}

func (v version) compare(w version) int {
	for i := 0; i < len(v) || i < len(w); i++ {
		var a, b uint64
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
	}
	return 0
}

func (v version) String() string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ".")
}

// stripExt drops one trailing .sys, .exe or .dll so that "SYMEVENT", "symevent.sys" and
// "SYMEVENT.SYS" compare equal. s must already be lower-case.
func stripExt(s string) string {
	for _, ext := range []string{".sys", ".exe", ".dll"} {
		if strings.HasSuffix(s, ext) && len(s) > len(ext) {
			return s[:len(s)-len(ext)]
		}
	}
	return s
}
