package eventlog

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind says what an event tells about a crash.
type Kind string

// The kinds of crash-related events (see docs/eventlog.md for the event ids behind each).
const (
	KindBugcheck           Kind = "bugcheck"            // WER-SystemErrorReporting 1001: a blue screen and the dump it left
	KindUnexpectedReboot   Kind = "unexpected_reboot"   // Kernel-Power 41: rebooted without a clean shutdown (a bugcheck code when it was a blue screen)
	KindUnexpectedShutdown Kind = "unexpected_shutdown" // EventLog 6008: the previous shutdown was unexpected; when it was last alive
	KindDumpNotSaved       Kind = "dump_not_saved"      // WER 1000, 1006: the crash left no dump (or no full one)
	KindDumpFailed         Kind = "dump_failed"         // WER 1004, 1005; volmgr 45, 46, 49, 161, 164: the dump could not be written or moved
	KindBoot               Kind = "boot"                // Kernel-General 12, EventLog 6005, 6009: a boot began
	KindShutdown           Kind = "shutdown"            // Kernel-General 13, EventLog 6006: a clean shutdown
	KindLogCleared         Kind = "log_cleared"         // Eventlog 104: the System log was cleared
)

// Event is one crash-related event of a System log. Its JSON form is stable (the keys of
// `bsodwatch events --json`, and what a poller keeps between reads).
type Event struct {
	ID       uint16    `json:"id"`       // EventID
	Record   uint64    `json:"record"`   // EventRecordID: the order of events, whatever the clock did
	Time     time.Time `json:"time"`     // TimeCreated (UTC) by the host's clock, which may jump
	Provider string    `json:"provider"` // Provider Name
	Kind     Kind      `json:"kind"`
	Version  uint8     `json:"version"`            // the event's template version (41: 2 on Windows 7, up to 10 and more later)
	Computer string    `json:"computer,omitempty"` // the host's name as it logged it

	BugcheckCode string   `json:"bugcheck_code,omitempty"` // "0x133"; empty when the event names no bugcheck (41 with BugcheckCode 0)
	Args         []string `json:"args,omitempty"`          // the four bugcheck parameters, "0x..."
	DumpPath     string   `json:"dump_path,omitempty"`     // 1001: where the dump was saved, e.g. C:\Windows\MEMORY.DMP
	ReportID     string   `json:"report_id,omitempty"`     // 1001: the report id (MMDDYY-NNNNN-NN on Windows 7, a GUID later; empty for the all-zero GUID)
	Reason       string   `json:"reason,omitempty"`        // dump_not_saved, dump_failed: what went wrong, e.g. "page file too small (volmgr 49)"

	// 6008: when the host was last known alive, from the Binary field's SYSTEMTIMEs: UTC,
	// and the host's wall clock in a zone of the host's offset at that moment.
	LastAlive      time.Time `json:"last_alive,omitzero"`
	LastAliveLocal time.Time `json:"last_alive_local,omitzero"`

	Fields []Field `json:"fields,omitempty"` // the raw EventData (or UserData) fields, in order; Binary as hex
}

// Field is one raw field: a Data element (Name may be empty for classic events) or Binary.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Field returns the value of the first field of that name (case-insensitive).
func (e *Event) Field(name string) (string, bool) {
	for _, f := range e.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// BlueScreen reports whether the event says the machine stopped on a bugcheck.
func (e *Event) BlueScreen() bool {
	return e.BugcheckCode != "" && (e.Kind == KindBugcheck || e.Kind == KindUnexpectedReboot || e.Kind == KindDumpNotSaved)
}

// Providers of the events read.
const (
	provWER      = "Microsoft-Windows-WER-SystemErrorReporting"
	provPower    = "Microsoft-Windows-Kernel-Power"
	provGeneral  = "Microsoft-Windows-Kernel-General"
	provEventLog = "EventLog"
	provEvtSvc   = "Microsoft-Windows-Eventlog"
	provVolmgr   = "volmgr"
)

// kindOf classifies an event by provider and id; ok is false for events this package does
// not report.
func kindOf(provider, source string, id uint16) (Kind, bool) {
	is := func(p string) bool { return strings.EqualFold(provider, p) }
	switch {
	case is(provWER) || is("BugCheck") || is("Save Dump") || strings.EqualFold(source, "BugCheck"):
		switch id {
		case 1001:
			return KindBugcheck, true
		case 1000, 1006:
			return KindDumpNotSaved, true
		case 1004, 1005:
			return KindDumpFailed, true
		}
	case is(provPower):
		if id == 41 {
			return KindUnexpectedReboot, true
		}
	case is(provEventLog):
		switch id {
		case 6008:
			return KindUnexpectedShutdown, true
		case 6005, 6009:
			return KindBoot, true
		case 6006:
			return KindShutdown, true
		}
	case is(provGeneral):
		switch id {
		case 12:
			return KindBoot, true
		case 13:
			return KindShutdown, true
		}
	case is(provEvtSvc):
		if id == 104 {
			return KindLogCleared, true
		}
	case is(provVolmgr):
		if _, ok := volmgrReasons[id]; ok {
			return KindDumpFailed, true
		}
	}
	return "", false
}

// wanted is the set of event ids worth rendering; the provider is checked after.
var wanted = map[uint16]bool{
	1000: true, 1001: true, 1004: true, 1005: true, 1006: true, 41: true,
	6005: true, 6006: true, 6008: true, 6009: true, 12: true, 13: true, 104: true,
	45: true, 46: true, 49: true, 161: true, 164: true,
}

// Why a dump was not written: volmgr's crash-dump messages (ntiologc.h) and WER's.
var volmgrReasons = map[uint16]string{
	45:  "the crash dump driver could not be loaded (volmgr 45)",
	46:  "crash dump initialization failed (volmgr 46)",
	49:  "page file too small (volmgr 49)",
	161: "dump file creation failed during the dump (volmgr 161)",
	164: "the dedicated dump file could not be configured (volmgr 164)",
}

var werReasons = map[uint16]string{
	1000: "a full dump was not saved (WER 1000)",
	1004: "the dump could not be moved from its temporary place (WER 1004)",
	1005: "no minidump could be made from the full dump (WER 1005)",
	1006: "no dump was saved (WER 1006)",
}

// eventOf turns a rendered record into an Event; ok is false when it is not one this
// package reports.
func eventOf(root *elem, rec record) (Event, bool) {
	if root == nil || root.name != "Event" {
		return Event{}, false
	}
	sys := root.kid("System")
	prov := sys.kid("Provider")
	idv, err := strconv.ParseUint(strings.TrimSpace(sys.kid("EventID").str()), 10, 16)
	if err != nil {
		return Event{}, false
	}
	ev := Event{ID: uint16(idv), Record: rec.id, Provider: prov.attr("Name"), Computer: sys.kid("Computer").str()}
	k, ok := kindOf(ev.Provider, prov.attr("EventSourceName"), ev.ID)
	if !ok {
		return Event{}, false
	}
	ev.Kind = k
	if v, err := strconv.ParseUint(sys.kid("Version").str(), 10, 8); err == nil {
		ev.Version = uint8(v)
	}
	ev.Time = rec.written
	if t, err := time.Parse(time.RFC3339Nano, sys.kid("TimeCreated").attr("SystemTime")); err == nil {
		ev.Time = t.UTC()
	}
	if ed := root.kid("EventData"); ed != nil {
		for _, d := range ed.kids {
			switch d.name {
			case "Data":
				ev.Fields = append(ev.Fields, Field{Name: d.attr("Name"), Value: d.text})
			case "Binary":
				ev.Fields = append(ev.Fields, Field{Name: "Binary", Value: d.text})
			}
		}
	} else if ud := root.kid("UserData"); ud != nil && len(ud.kids) > 0 {
		for _, d := range ud.kids[0].kids {
			ev.Fields = append(ev.Fields, Field{Name: d.name, Value: d.text})
		}
	}
	ev.interpret()
	return ev, true
}

// interpret fills the typed fields from the raw ones, by name (later versions of an event
// add fields; unknown ones are kept in Fields and otherwise ignored).
func (e *Event) interpret() {
	switch {
	case e.Kind == KindBugcheck || (e.Kind == KindDumpNotSaved && e.ID == 1006):
		p1, p2, p3 := e.param(1), e.param(2), e.param(3)
		e.BugcheckCode, e.Args = parseBugcheckString(p1)
		if e.ID == 1001 {
			e.DumpPath = strings.TrimSpace(p2)
			e.ReportID = reportID(p3)
		}
	case e.Kind == KindUnexpectedReboot:
		v, _ := e.Field("BugcheckCode")
		if code, ok := parseNumber(v); ok && code != 0 {
			e.BugcheckCode = hexString(code)
			for i := 1; i <= 4; i++ {
				p, _ := e.Field(fmt.Sprintf("BugcheckParameter%d", i))
				n, _ := parseNumber(p)
				e.Args = append(e.Args, hexString(n))
			}
		}
	case e.Kind == KindUnexpectedShutdown:
		if b, ok := e.Field("Binary"); ok {
			e.LastAliveLocal, e.LastAlive = lastAlive(b)
		}
	}
	if e.Kind == KindDumpFailed || e.Kind == KindDumpNotSaved {
		if strings.EqualFold(e.Provider, provVolmgr) {
			e.Reason = volmgrReasons[e.ID]
			if e.ID == 161 {
				if p := e.dataString(1); p != "" {
					e.Reason += ", BugCheckProgress " + p
				}
			}
		} else {
			e.Reason = werReasons[e.ID]
		}
	}
}

// param returns 1001's paramN by name, else the Nth Data field.
func (e *Event) param(n int) string {
	if v, ok := e.Field(fmt.Sprintf("param%d", n)); ok {
		return v
	}
	return e.dataString(n - 1)
}

// dataString returns the i-th Data field (not Binary).
func (e *Event) dataString(i int) string {
	for _, f := range e.Fields {
		if f.Name == "Binary" {
			continue
		}
		if i == 0 {
			return f.Value
		}
		i--
	}
	return ""
}

// parseBugcheckString reads 1001's param1: "0x0000009f (0x0000000000000003, 0x..., 0x..., 0x...)".
func parseBugcheckString(s string) (string, []string) {
	s = strings.TrimSpace(s)
	head, rest, _ := strings.Cut(s, "(")
	code, ok := parseNumber(strings.TrimSpace(head))
	if !ok {
		return "", nil
	}
	var args []string
	rest, _, _ = strings.Cut(rest, ")")
	for _, a := range strings.Split(rest, ",") {
		if n, ok := parseNumber(strings.TrimSpace(a)); ok {
			args = append(args, hexString(n))
		}
	}
	return hexString(code), args
}

// reportID normalizes a report id: GUIDs lose their braces and case; the all-zero GUID
// (no report) becomes empty.
func reportID(s string) string {
	s = strings.TrimSpace(s)
	g := strings.ToLower(strings.Trim(s, "{}"))
	if len(g) == 36 && strings.Count(g, "-") == 4 {
		if strings.Trim(g, "0-") == "" {
			return ""
		}
		return g
	}
	return s
}

// parseNumber reads a decimal or 0x-hex number.
func parseNumber(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err := strconv.ParseUint(h, 16, 64)
		return n, err == nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func hexString(n uint64) string { return "0x" + strconv.FormatUint(n, 16) }

// lastAlive decodes 6008's Binary field: a SYSTEMTIME in local time, then one in UTC.
func lastAlive(hexBytes string) (local, utc time.Time) {
	b, err := hex.DecodeString(hexBytes)
	if err != nil || len(b) < 32 {
		return time.Time{}, time.Time{}
	}
	l, ok1 := systemTime(b[:16])
	u, ok2 := systemTime(b[16:32])
	if !ok1 || !ok2 {
		return time.Time{}, time.Time{}
	}
	off := l.Sub(u).Round(time.Minute)
	if off < -14*time.Hour || off > 14*time.Hour {
		return time.Time{}, u
	}
	zone := time.FixedZone(zoneName(off), int(off.Seconds()))
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), zone), u
}

func zoneName(off time.Duration) string {
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, int(off.Hours()), int(off.Minutes())%60)
}

// systemTime decodes a SYSTEMTIME (year, month, day of week, day, hour, minute, second,
// milliseconds: eight little-endian uint16) as a UTC time.
func systemTime(b []byte) (time.Time, bool) {
	if len(b) < 16 {
		return time.Time{}, false
	}
	w := func(i int) int { return int(binary.LittleEndian.Uint16(b[2*i:])) }
	y, mo, d, h, mi, s, ms := w(0), w(1), w(3), w(4), w(5), w(6), w(7)
	if y < 1601 || y > 30827 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59 || ms > 999 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ms*int(time.Millisecond), time.UTC), true
}
