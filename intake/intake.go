// Package intake turns a dump that has reached the dump share into a queued analysis job,
// one way for every producer (the fetcher's sweep, `bsodwatch submit`), and so too a crash
// the fetcher knows from a host's event log alone (NewEventJob): it reads the dump's
// header natively, never failing on it (a bad header, even a panic of the reader, is reported
// in the job so a person sees it), gives the job its identity, and publishes it on JetStream
// so that a repeat is recognised and dropped.
package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// JobID is the identity of a job: one dump from one source. It is derived from the host (as
// Windows compares names: without regard to case) and the dump's sha256, so byte-identical
// dumps from two hosts are two crashes with two verdicts, while the same file fetched again
// from the same host is the same job and JetStream drops the repeat.
func JobID(host, sha256hex string) string {
	h := sha256.New()
	fmt.Fprintf(h, "bsodwatch job\x00%s\x00%s", strings.ToLower(host), strings.ToLower(sha256hex))
	return hex.EncodeToString(h.Sum(nil))
}

// EventJobID is the identity of a crash known from a host's System event log alone: the host,
// the record id of the crash's first event and the crash's time as the log tells it
// (analysis.CrashEvent's Record and Time). Record ids start again at 1 when a log is
// cleared, so the time keeps two crashes with one record id apart, while reading the same
// log again gives the same ID and JetStream drops the repeat.
func EventJobID(host string, record uint64, at time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "bsodwatch event\x00%s\x00%d\x00%d", strings.ToLower(host), record, at.UTC().UnixNano())
	return hex.EncodeToString(h.Sum(nil))
}

// Crash is a crash known from a host's System event log alone, as NewEventJob needs it.
type Crash struct {
	Host     string
	HostTags []string
	// SourcePath is the log the crash was read from, as the host names it
	// (ADMIN$\System32\winevt\Logs\System.evtx).
	SourcePath string
	Event      analysis.CrashEvent
}

// NewEventJob makes the job of a crash that left no dump (or whose dump is gone), or of an
// unexpected reboot, detected at now. It has no dump: the analyzer makes the verdict from
// the event.
func NewEventJob(c Crash, now time.Time) *pipeline.Job {
	ev := c.Event
	return &pipeline.Job{
		Version:    pipeline.JobVersion,
		ID:         EventJobID(c.Host, ev.Record, ev.Time),
		Host:       c.Host,
		HostTags:   c.HostTags,
		SourcePath: c.SourcePath,
		DetectedAt: now.UTC(),
		Submitter:  "fetcher",
		Event:      &ev,
	}
}

// Dump is a dump that is on the share, as NewJob needs it.
type Dump struct {
	Host     string
	HostTags []string
	// SourcePath is where the dump was found, as the host (or the submitter) names it.
	SourcePath string
	// SharePath is the copy's path below the share root, '/'-separated.
	SharePath string
	Size      int64
	SHA256    string
	ModTime   time.Time
	Header    *pipeline.Header
	// Submitter is "fetcher" or "submit".
	Submitter string
	// Event is what the host's System event log says of the crash that left the dump, when
	// the fetcher read it.
	Event *analysis.CrashEvent
}

// NewJob makes the job for d, detected at now.
func NewJob(d Dump, now time.Time) *pipeline.Job {
	hdr := d.Header
	if hdr == nil {
		hdr = &pipeline.Header{Error: "no header"}
	}
	return &pipeline.Job{
		Version:    pipeline.JobVersion,
		ID:         JobID(d.Host, d.SHA256),
		Host:       d.Host,
		HostTags:   d.HostTags,
		SourcePath: d.SourcePath,
		SharePath:  d.SharePath,
		Size:       d.Size,
		SHA256:     strings.ToLower(d.SHA256),
		ModTime:    d.ModTime.UTC(),
		DetectedAt: now.UTC(),
		Submitter:  d.Submitter,
		Header:     hdr,
		Event:      d.Event,
	}
}

// Header reads a dump's header for a job. It never fails: a problem (a truncated, foreign or
// corrupt file, or a panic of the reader) is reported in Error, with whatever the header
// still told (a truncated kernel dump keeps its bugcheck).
func Header(ra io.ReaderAt, size int64) (h *pipeline.Header) {
	defer func() {
		if r := recover(); r != nil {
			h = &pipeline.Header{Error: fmt.Sprintf("header reader failed: %v", r)}
		}
	}()
	d, err := dumpfile.Read(ra, size)
	h = &pipeline.Header{}
	if d != nil {
		h = HeaderOf(d)
	}
	if err != nil {
		h.Error = err.Error()
	}
	return h
}

// HeaderOf summarises a dump that was already read.
func HeaderOf(d *dumpfile.Dump) *pipeline.Header {
	h := &pipeline.Header{
		Format:        d.Format,
		DumpType:      d.DumpType,
		Arch:          d.Arch,
		Build:         d.Build,
		SystemTime:    d.SystemTime,
		UptimeSeconds: int64(d.Uptime.Round(time.Second).Seconds()),
		BuildLab:      d.NtBuildLab,
	}
	switch d.ProductType {
	case 1:
		h.Workstation = true
	case 2, 3:
		h.Server = true
	}
	if d.Kernel() {
		h.Live = d.Live()
		h.BugcheckCode = fmt.Sprintf("0x%x", d.BugcheckCode)
		h.BugcheckName = dumpfile.BugcheckName(d.BugcheckCode)
		h.Args = make([]string, len(d.BugcheckParams))
		for i, p := range d.BugcheckParams {
			h.Args[i] = fmt.Sprintf("0x%x", p)
		}
	}
	return h
}

// Publisher publishes jobs on pipeline.JobsSubject with the job ID as Nats-Msg-Id.
type Publisher struct{ js jetstream.JetStream }

// NewPublisher returns a publisher on js.
func NewPublisher(js jetstream.JetStream) *Publisher { return &Publisher{js: js} }

// Publish returns once JetStream has stored the job; duplicate is true when JetStream already
// had a job with its ID (within the streams' duplicate window), which it then drops.
func (p *Publisher) Publish(ctx context.Context, job *pipeline.Job) (duplicate bool, err error) {
	b, err := json.Marshal(job)
	if err != nil {
		return false, fmt.Errorf("encode job: %w", err)
	}
	ack, err := p.js.Publish(ctx, pipeline.JobsSubject, b, jetstream.WithMsgID(job.ID))
	if err != nil {
		return false, err
	}
	return ack.Duplicate, nil
}
