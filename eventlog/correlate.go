package eventlog

import (
	"path"
	"sort"
	"strings"
	"time"
)

// Boots numbers the boots of a host's events, which must be in record order: out[i] is the
// boot of events[i], 1 for the first boot seen, 0 for events before it. Record order, not
// the clock, decides (clocks jump: in a sample a 6008 is stamped two hours before its boot).
//
// A boot is anchored at its EventLog 6005 (the service starts once per boot), else 6009,
// else Kernel-General 12 when the events hold no 6005. What Windows writes while it boots —
// the kernel's buffered 12, 13 and 41, EventLog 6008 and 6009, volmgr's dump messages —
// lands a few records before or after the anchor (the samples show every order), so such
// an event goes to the nearest anchor within bootWindow records; every other event goes to
// the last anchor before it.
func Boots(events []Event) []int {
	var anchors []uint64
	for _, id := range []uint16{6005, 6009, 12} {
		for _, e := range events {
			if e.Kind == KindBoot && e.ID == id {
				anchors = append(anchors, e.Record)
			}
		}
		if len(anchors) > 0 {
			break
		}
	}
	out := make([]int, len(events))
	for i, e := range events {
		// after: how many anchors are at or before the event.
		after := sort.Search(len(anchors), func(j int) bool { return anchors[j] > e.Record })
		out[i] = after
		if !bootTime(e) {
			continue
		}
		best, dist := 0, uint64(bootWindow+1)
		for _, j := range []int{after - 1, after} {
			if j < 0 || j >= len(anchors) {
				continue
			}
			d := max(anchors[j], e.Record) - min(anchors[j], e.Record)
			if d < dist {
				best, dist = j+1, d
			}
		}
		if dist <= bootWindow {
			out[i] = best
		}
	}
	return out
}

// bootWindow is how many records from its boot's anchor a boot-time event may lie (the
// samples show up to 28).
const bootWindow = 100

func bootTime(e Event) bool {
	switch {
	case e.Kind == KindBoot, e.Kind == KindUnexpectedShutdown, e.Kind == KindUnexpectedReboot:
		return true
	case e.Kind == KindShutdown:
		return e.ID == 13 // the kernel's shutdown event is written at the next boot
	}
	return strings.EqualFold(e.Provider, provVolmgr)
}

// Dump is a dump file the fetcher found on the host.
type Dump struct {
	Path    string    // relative to the admin share (%SystemRoot%), '/'-separated: "MEMORY.DMP", "Minidump/040612-50390-01.dmp"
	ModTime time.Time // the host's mtime
	Size    int64
}

// CrashKind says what became of a crash.
type CrashKind string

const (
	// CrashDump: a blue screen whose dump (1001) is among the dumps given.
	CrashDump CrashKind = "dump"
	// CrashDumpMissing: a blue screen that saved a dump (1001) that is not among them
	// (overwritten by a later crash, deleted, or somewhere the fetcher does not look).
	CrashDumpMissing CrashKind = "dump_missing"
	// CrashNoDump: a blue screen (41 with a bugcheck code) that left no dump.
	CrashNoDump CrashKind = "no_dump"
	// CrashUnexpectedReboot: the host went down without a clean shutdown and without a
	// bugcheck: power loss, a hard hang, a held power button.
	CrashUnexpectedReboot CrashKind = "unexpected_reboot"
)

// Crash is one unclean end of a boot, told by the events of the boot after it.
type Crash struct {
	Kind CrashKind
	// Boot is the boot that logged the crash (see Boots); the crash ended the boot before.
	Boot int
	// Record is the record id of its first event: with the host, a stable key.
	Record uint64
	// Time is when the host went down, as well as the log knows: 6008's last-alive time
	// (UTC), else the time of its first event (logged at the next boot, so later).
	Time time.Time
	// LocalTime is Time on the host's clock, when 6008 gave it (zero otherwise).
	LocalTime time.Time

	BugcheckCode string   // "0x133"; empty for CrashUnexpectedReboot
	Args         []string // "0x..."
	DumpPath     string   // 1001's dump path
	ReportID     string   // 1001's report id
	Dump         *Dump    // CrashDump: the dump it left
	// Reason, for CrashNoDump (and CrashDumpMissing when the log says more), is why no dump
	// was written, from WER 1000/1004/1005/1006 and volmgr 45/46/49/161/164 ("; "-joined);
	// empty when the log does not say.
	Reason string
	// PowerButton is when the power button was pressed (41's PowerButtonTimestamp), zero
	// when it was not.
	PowerButton time.Time
	// OSVersion is the Windows version the crashed boot started (its Kernel-General 12),
	// else the one the reporting boot started, e.g. "6.1.7601.17727".
	OSVersion string
	// Pending is true, in the latest boot while less than Options.Settle has passed since
	// its first event was logged, for a blue screen with no 1001 yet (WER may still log the
	// dump) and for an unexpected reboot (the boot's 41, which may name a bugcheck, may not
	// be written yet). A poller reports it once it has settled.
	Pending bool
	// Events are the events that tell it, in record order.
	Events []Event
}

// Options tune Correlate.
type Options struct {
	// Now is the current time on the hosts' clocks (the poller's own clock; a host's last
	// record time is Mark.Newest): a blue screen with no 1001 yet or an unexpected reboot,
	// logged less than Settle before it in the latest boot, is Pending. Zero: never pending.
	Now time.Time
	// Settle is how long after a crash report WER may still log the dump (default 10m).
	Settle time.Duration
	// DumpSlack is how far a MEMORY.DMP's mtime may lie from its 1001 (default: 1h before,
	// 10m after); dumps with unique names (Minidump) match by name alone.
	DumpSlack time.Duration
}

// Correlate groups a host's crash-related events (in record order, as Read and ReadSince
// return them; several reads may be joined) by boot into crashes, and matches each blue
// screen's 1001 with the dumps the fetcher found (by path, then the mtime closest to the
// 1001 for MEMORY.DMP, which every crash overwrites). It is pure: same input, same answer.
func Correlate(events []Event, dumps []Dump, o Options) []Crash {
	if o.Settle <= 0 {
		o.Settle = 10 * time.Minute
	}
	if o.DumpSlack <= 0 {
		o.DumpSlack = time.Hour
	}
	events = append([]Event(nil), events...)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Record < events[j].Record })
	boots := Boots(events)
	byBoot := map[int][]Event{}
	lastBoot := 0
	for i, e := range events {
		byBoot[boots[i]] = append(byBoot[boots[i]], e)
		lastBoot = max(lastBoot, boots[i])
	}
	var crashes []Crash
	used := map[int]bool{}
	for b := 0; b <= lastBoot; b++ {
		c, ok := crashOf(b, byBoot[b], byBoot[b-1])
		if !ok {
			continue
		}
		if c.Kind == CrashDumpMissing {
			if i := matchDump(c, dumps, used, o.DumpSlack); i >= 0 {
				used[i] = true
				d := dumps[i]
				c.Kind, c.Dump = CrashDump, &d
			}
		}
		if (c.Kind == CrashNoDump || c.Kind == CrashUnexpectedReboot) && b == lastBoot && !o.Now.IsZero() && o.Now.Sub(c.Events[0].Time) < o.Settle {
			c.Pending = true
		}
		crashes = append(crashes, c)
	}
	return crashes
}

// crashOf reads the crash reported in one boot, if any. prev are the events of the boot
// before it (the one that crashed): its dump-configuration failures explain a missing dump.
func crashOf(boot int, evs, prev []Event) (Crash, bool) {
	c := Crash{Boot: boot}
	var report, power *Event
	var reasons []string
	addReason := func(r string) {
		for _, x := range reasons {
			if x == r {
				return
			}
		}
		reasons = append(reasons, r)
	}
	for _, e := range prev {
		if strings.EqualFold(e.Provider, provVolmgr) && e.ID != 161 {
			addReason(e.Reason)
		}
		if e.Kind == KindBoot && e.ID == 12 && c.OSVersion == "" {
			c.OSVersion = osVersion(e)
		}
	}
	for i := range evs {
		e := &evs[i]
		switch e.Kind {
		case KindBugcheck:
			if report == nil {
				report = e
			}
		case KindUnexpectedReboot:
			if power == nil {
				power = e
			}
		case KindUnexpectedShutdown:
			if c.Time.IsZero() && !e.LastAlive.IsZero() {
				c.Time, c.LocalTime = e.LastAlive, e.LastAliveLocal
			}
		case KindDumpNotSaved, KindDumpFailed:
			if e.Reason != "" {
				addReason(e.Reason)
			}
			if c.BugcheckCode == "" && e.BugcheckCode != "" {
				c.BugcheckCode, c.Args = e.BugcheckCode, e.Args
			}
		case KindBoot:
			if e.ID == 12 && c.OSVersion == "" {
				c.OSVersion = osVersion(*e)
			}
			continue
		default:
			continue
		}
		c.Events = append(c.Events, *e)
	}
	unclean := report != nil || power != nil
	for _, e := range c.Events {
		unclean = unclean || e.Kind == KindUnexpectedShutdown || e.Kind == KindDumpNotSaved || (e.Kind == KindDumpFailed && e.ID == 161)
	}
	if !unclean {
		return Crash{}, false
	}
	c.Record = c.Events[0].Record
	if c.Time.IsZero() {
		c.Time = c.Events[0].Time
	}
	if power != nil {
		if c.BugcheckCode == "" {
			c.BugcheckCode, c.Args = power.BugcheckCode, power.Args
		}
		if v, ok := power.Field("PowerButtonTimestamp"); ok {
			if n, ok := parseNumber(v); ok && n != 0 {
				c.PowerButton = filetime(n)
			}
		}
	}
	switch {
	case report != nil:
		c.Kind = CrashDumpMissing
		c.BugcheckCode, c.Args = report.BugcheckCode, report.Args
		c.DumpPath, c.ReportID = report.DumpPath, report.ReportID
	case c.BugcheckCode != "":
		c.Kind = CrashNoDump
	default:
		c.Kind = CrashUnexpectedReboot
	}
	if c.Kind != CrashUnexpectedReboot {
		c.Reason = strings.Join(reasons, "; ")
	}
	return c, true
}

func osVersion(e Event) string {
	var parts []string
	for _, k := range []string{"MajorVersion", "MinorVersion", "BuildVersion", "QfeVersion"} {
		v, ok := e.Field(k)
		if !ok || v == "" {
			break
		}
		parts = append(parts, v)
	}
	if len(parts) < 3 {
		return ""
	}
	return strings.Join(parts, ".")
}

// matchDump finds the dump a 1001 names: the one Names accepts, for a name that every crash
// reuses (MEMORY.DMP) the one whose mtime is closest to the 1001.
func matchDump(c Crash, dumps []Dump, used map[int]bool, slack time.Duration) int {
	at := reportTime(c)
	best, bestD := -1, time.Duration(-1)
	for i, d := range dumps {
		if used[i] || !c.names(d, slack) {
			continue
		}
		diff := d.ModTime.Sub(at)
		if diff < 0 {
			diff = -diff
		}
		if best < 0 || diff < bestD {
			best, bestD = i, diff
		}
	}
	return best
}

// Names reports whether d is the dump the crash's 1001 names: the same path below
// %SystemRoot%, and for a name that every crash reuses (MEMORY.DMP) an mtime within slack
// before the 1001 and 10 minutes after it (slack 0: Options' default, 1h). A poller uses it
// to tell a dump it copied before from one that is gone.
func (c Crash) Names(d Dump, slack time.Duration) bool {
	if slack <= 0 {
		slack = time.Hour
	}
	return c.names(d, slack)
}

func (c Crash) names(d Dump, slack time.Duration) bool {
	rel := RelToWindows(c.DumpPath)
	if rel == "" || len(c.Events) == 0 || !strings.EqualFold(strings.Trim(strings.ReplaceAll(d.Path, `\`, "/"), "/"), rel) {
		return false
	}
	if !strings.EqualFold(path.Base(rel), "memory.dmp") {
		return true
	}
	diff := d.ModTime.Sub(reportTime(c))
	return diff >= -slack && diff <= 10*time.Minute
}

// reportTime is when the 1001 was logged (else the crash's first event).
func reportTime(c Crash) time.Time {
	at := c.Events[0].Time
	for _, e := range c.Events {
		if e.Kind == KindBugcheck {
			at = e.Time
		}
	}
	return at
}

// RelToWindows turns "C:\Windows\Minidump\x.dmp" into "Minidump/x.dmp" (the path below the
// Windows directory, which ADMIN$ shares); "" when it is not below one.
func RelToWindows(p string) string {
	p = strings.ReplaceAll(strings.TrimSpace(p), `\`, "/")
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if (strings.EqualFold(s, "windows") || strings.EqualFold(s, "winnt")) && i+1 < len(parts) {
			return strings.Join(parts[i+1:], "/")
		}
	}
	return ""
}

// LastBoots returns the events of the last n boots (all of them when there are fewer), in
// record order: the window a poller keeps per host between reads, so that a 1001 read on a
// later sweep still meets its 41, and a crash still sees the boot before it (keep n ≥ 3).
func LastBoots(events []Event, n int) []Event {
	events = append([]Event(nil), events...)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Record < events[j].Record })
	boots := Boots(events)
	last := 0
	for _, b := range boots {
		last = max(last, b)
	}
	out := events[:0]
	for i, e := range events {
		if boots[i] > last-n {
			out = append(out, e)
		}
	}
	return out
}

// Compact returns the events without the raw fields Correlate does not read (it reads 41's
// PowerButtonTimestamp and Kernel-General 12's version numbers; the typed fields hold the
// rest): what a poller keeps between reads, in a fraction of the space.
func Compact(events []Event) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		var keep []string
		switch {
		case e.Kind == KindUnexpectedReboot:
			keep = []string{"PowerButtonTimestamp"}
		case e.Kind == KindBoot && e.ID == 12:
			keep = []string{"MajorVersion", "MinorVersion", "BuildVersion", "QfeVersion"}
		}
		fields := e.Fields
		e.Fields = nil
		for _, f := range fields {
			for _, k := range keep {
				if strings.EqualFold(f.Name, k) {
					e.Fields = append(e.Fields, f)
				}
			}
		}
		out[i] = e
	}
	return out
}
