// Package pipeline holds the messages that flow between bsodwatch's roles (jobs and results),
// the names of the JetStream streams, subjects and buckets that carry them, and the code that
// creates those streams. Every role and command imports it; it imports no role.
package pipeline

import (
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// Names of the JetStream objects. Changing one is a breaking change for running clusters.
const (
	JobsStream      = "BSODWATCH_JOBS"
	JobsSubject     = "bsodwatch.jobs.dump"
	ResultsStream   = "BSODWATCH_RESULTS"
	ResultsPrefix   = "bsodwatch.results." // + job ID; one verdict kept per dump
	SeenBucket      = "bsodwatch_seen"     // fetcher state: host/path -> size+mtime; host -> event log mark
	AnalyzerDurable = "analyzer"
	NotifierDurable = "notifier"
)

// ResultSubject is the subject a dump's verdict is published on. The results stream keeps the
// newest message per subject, so a reprocessed verdict replaces the old one in history.
func ResultSubject(jobID string) string { return ResultsPrefix + jobID }

// JobVersion and ResultVersion are bumped on incompatible changes to the JSON below.
// Results of version 2 carry the verdict; job IDs of version 2 name a dump from one source
// (intake.JobID), not the content hash alone.
const (
	JobVersion    = 2
	ResultVersion = 2
)

// Job asks an analyzer to analyze one dump that is already on the dump share.
type Job struct {
	Version int `json:"version"`
	// ID is the job's identity (intake.JobID: the host and the dump's sha256; for a crash
	// without a dump intake.EventJobID). It is the Nats-Msg-Id, so a re-publish is
	// deduplicated.
	ID       string   `json:"id"`
	Host     string   `json:"host"`
	HostTags []string `json:"host_tags,omitempty"`
	// SourcePath is where the dump was found, as the host names it (ADMIN$\Minidump\x.dmp).
	SourcePath string `json:"source_path"`
	// SharePath is where the copy is: relative to the dump share root, with forward slashes.
	SharePath  string    `json:"share_path"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	ModTime    time.Time `json:"mtime"`
	DetectedAt time.Time `json:"detected_at"`
	// Submitter says who queued the job: "fetcher" or "submit".
	Submitter string  `json:"submitter,omitempty"`
	Header    *Header `json:"header,omitempty"`
	// Event is what the host's System event log says of the crash (the fetcher reads it).
	// A job without a dump (SharePath, SHA256 and Size empty) is the crash's only record: a
	// blue screen that left no dump, or an unexpected reboot; the analyzer makes its verdict
	// from Event alone, without a debugger. Its ID is intake.EventJobID.
	Event *analysis.CrashEvent `json:"event,omitempty"`
}

// NoDump reports whether the job has no dump: its crash is known from the event log alone.
func (j *Job) NoDump() bool { return j.SharePath == "" && j.Event != nil }

// Header is the native reader's quick look at the dump, put in the job by whoever queued it.
type Header struct {
	Format       string    `json:"format,omitempty"`
	DumpType     string    `json:"dump_type,omitempty"`
	Arch         string    `json:"arch,omitempty"`
	Build        int       `json:"build,omitempty"`
	BugcheckCode string    `json:"bugcheck_code,omitempty"`
	BugcheckName string    `json:"bugcheck_name,omitempty"`
	Args         []string  `json:"args,omitempty"`
	SystemTime   time.Time `json:"system_time,omitzero"`
	ComputerName string    `json:"computer_name,omitempty"`
	// UptimeSeconds is the system (kernel) uptime at the crash, when the dump holds it.
	UptimeSeconds int64 `json:"uptime_s,omitempty"`
	// Live is set for a live dump (taken from a running system, not a crash).
	Live bool `json:"live,omitempty"`
	// Workstation is set when the dump says the OS is a client edition (ProductType 1);
	// Server when it is a server (2, 3). Neither when unknown.
	Workstation bool `json:"workstation,omitempty"`
	Server      bool `json:"server,omitempty"`
	// BuildLab is the kernel's build string, e.g. 19041.1.amd64fre.vb_release.191206-1406.
	BuildLab string `json:"build_lab,omitempty"`
	// Error is set when the header could not be read; the job is still queued so that a
	// person sees the failure.
	Error string `json:"error,omitempty"`
}

// Result outcomes.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// Result is an analyzer's verdict on one job.
type Result struct {
	Version int    `json:"version"`
	Job     Job    `json:"job"`
	Status  string `json:"status"`
	// Verdict says what happened, in the same words for every engine (package verdict).
	Verdict *analysis.Verdict `json:"verdict,omitempty"`
	// Engine is "cdb" or "native".
	Engine string `json:"engine,omitempty"`
	// Confidence is high, medium or low.
	Confidence string `json:"confidence,omitempty"`
	// Degraded is true when the debugger reported missing or wrong symbols.
	Degraded        bool               `json:"degraded,omitempty"`
	DegradedReasons []string           `json:"degraded_reasons,omitempty"`
	Analysis        *analysis.Analysis `json:"analysis,omitempty"`
	ProbableCause   *Cause             `json:"probable_cause,omitempty"`
	Matches         []analysis.Match   `json:"matches"`
	RulesVersion    string             `json:"rules_version,omitempty"`
	// Error and Attempts describe a failed result; DebuggerTail is the end of the output.
	Error        string    `json:"error,omitempty"`
	Attempts     int       `json:"attempts,omitempty"`
	DebuggerTail string    `json:"debugger_tail,omitempty"`
	Timings      Timings   `json:"timings"`
	AnalyzedAt   time.Time `json:"analyzed_at"`
	Worker       string    `json:"worker,omitempty"`
	// Marks set by history: a bucket never seen before, back after a quiet period, or a host
	// crashing repeatedly.
	Marks Marks `json:"marks,omitzero"`
	// Reprocessed is set on a verdict re-issued by `bsodwatch reanalyze`; PreviousMatches holds
	// the rule IDs it replaced.
	Reprocessed     bool     `json:"reprocessed,omitempty"`
	PreviousMatches []string `json:"previous_matches,omitempty"`
	// PrunedAt is when the share's retention removed the dump ("dump pruned"); zero while
	// the dump is there. The verdict is kept, re-issued in place with it set.
	PrunedAt time.Time `json:"pruned_at,omitzero"`
}

// Cause is the native reader's guess at the culprit.
type Cause struct {
	// Outcome is module (a module is blamed), manual, hardware, live, no-crash or unknown.
	Outcome    string   `json:"outcome,omitempty"`
	Module     string   `json:"module,omitempty"`
	Offset     string   `json:"offset,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Confidence string   `json:"confidence,omitempty"`
	Evidence   []string `json:"evidence,omitempty"`
}

// Timings are in milliseconds.
type Timings struct {
	QueuedMS   int64 `json:"queued_ms,omitempty"`
	DebuggerMS int64 `json:"debugger_ms,omitempty"`
	TotalMS    int64 `json:"total_ms,omitempty"`
}

// Marks flag verdicts that deserve attention beyond their own content.
type Marks struct {
	NewBucket  bool `json:"new_bucket,omitempty"`
	Regression bool `json:"regression,omitempty"`
	CrashLoop  bool `json:"crash_loop,omitempty"`
}

// MsgID is the Nats-Msg-Id of a result: one verdict per dump and rule-set version, so a
// redelivered job never produces a second verdict. A verdict re-issued because its dump was
// pruned has an ID of its own, or JetStream would drop it as a repeat of the first.
func (r *Result) MsgID() string {
	id := r.Job.ID + ":" + r.RulesVersion
	if !r.PrunedAt.IsZero() {
		id += ":pruned"
	}
	return id
}

// Bucket is the bucket a verdict is grouped and counted by: the verdict's (the same for
// every engine); for a stored result from before verdicts, the debugger's failure bucket
// or the bugcheck code and culprit module as they were then.
func (r *Result) Bucket() string {
	if r.Verdict != nil && r.Verdict.Bucket != "" {
		return r.Verdict.Bucket
	}
	if a := r.Analysis; a != nil {
		for _, b := range []string{a.FailureBucketID, a.BucketID, a.DefaultBucketID} {
			if b != "" {
				return b
			}
		}
	}
	code, mod := "", ""
	if r.Analysis != nil {
		code, mod = r.Analysis.BugcheckCode, r.Analysis.ThirdPartyModule
		if mod == "" {
			mod = r.Analysis.ModuleName
		}
	}
	if code == "" && r.Job.Header != nil {
		code = r.Job.Header.BugcheckCode
	}
	if mod == "" && r.ProbableCause != nil {
		mod = r.ProbableCause.Module
	}
	if code == "" && mod == "" {
		return "unknown"
	}
	return code + "_" + mod
}
