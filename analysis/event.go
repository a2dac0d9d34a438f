package analysis

import "time"

// Kinds of CrashEvent: what became of a crash, as the host's System event log tells it
// (package eventlog's CrashKind, by the same names).
const (
	EventDump             = "dump"              // a blue screen whose dump the fetcher copied
	EventNoDump           = "no_dump"           // a blue screen (Kernel-Power 41 with a bug check code) that left no dump
	EventDumpMissing      = "dump_missing"      // a blue screen whose dump Windows saved (WER 1001) but that was gone when the fetcher came
	EventUnexpectedReboot = "unexpected_reboot" // the host went down without a bug check: power loss, a hard hang, a held power button
)

// CrashEvent is what a host's System event log says of one crash. The fetcher reads the log
// (package eventlog) over the session it holds to the host and puts the crash on the job:
// beside the dump it copied, or alone when the crash left no dump. The verdict carries it.
// Its JSON form is part of jobs and verdicts (`event`).
type CrashEvent struct {
	// Kind is dump, no_dump, dump_missing or unexpected_reboot (the Event* constants).
	Kind string `json:"kind"`
	// Record is the record id of the crash's first event in the host's log.
	Record uint64 `json:"record"`
	// Time is when the host went down, as well as the log knows (UTC, by the host's clock):
	// EventLog 6008's last-alive time, else when the crash's first event was logged (at the
	// next boot, so later). LocalTime is the host's wall clock at that moment, when 6008
	// gave it.
	Time      time.Time `json:"time"`
	LocalTime time.Time `json:"local_time,omitzero"`
	// DumpSaved says whether Windows saved a dump (WER 1001 names it): true for dump and
	// dump_missing. DumpPath and ReportID are 1001's.
	DumpSaved bool   `json:"dump_saved"`
	DumpPath  string `json:"dump_path,omitempty"`
	ReportID  string `json:"report_id,omitempty"`
	// BugcheckCode ("0x133") and Args ("0x...") are the log's; empty for an unexpected
	// reboot.
	BugcheckCode string   `json:"bugcheck_code,omitempty"`
	Args         []string `json:"args,omitempty"`
	// Reason is why no dump was written, when the log says (WER 1000/1004/1005/1006, volmgr
	// 45/46/49/161/164), e.g. "page file too small (volmgr 49)".
	Reason string `json:"reason,omitempty"`
	// OSVersion is the Windows version the crashed boot ran, e.g. "10.0.19045.4291".
	OSVersion string `json:"os_version,omitempty"`
	// PowerButton is when the power button was pressed before the crash (Kernel-Power 41).
	PowerButton time.Time `json:"power_button,omitzero"`
	// Computer is the host's name as it logged it.
	Computer string `json:"computer,omitempty"`
	// EventIDs are the ids of the events that tell the crash, in record order (6008, 41,
	// 1001, ...).
	EventIDs []int `json:"event_ids,omitempty"`
}
