package analyzer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
)

// Crashes known from a host's event log alone come through the queue like dumps: the
// analyzer makes their verdict without a debugger or a share, and the shipped rules that ask
// only for a bug check code match them (0x124), while those that need a module do not
// (0x133 in a storage driver).
func TestEventJobsThroughTheQueue(t *testing.T) {
	e := newEnv(t)
	rl, err := rules.NewReloader("", zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 5, 1, 3, 12, 0, 0, time.UTC)
	job := func(rec uint64, kind, code, reason string) *pipeline.Job {
		ev := analysis.CrashEvent{Kind: kind, Record: rec, Time: at.Add(time.Duration(rec) * time.Minute), BugcheckCode: code, Reason: reason, OSVersion: "10.0.19045.4291"}
		if code != "" {
			ev.Args = []string{"0x0", "0xffffb20f3c6a8028", "0xbe000000", "0x800400"}
		}
		j := intake.NewEventJob(intake.Crash{Host: "web01", SourcePath: `ADMIN$\System32\winevt\Logs\System.evtx`, Event: ev}, time.Now())
		e.publish(j)
		return j
	}
	whea := job(205, analysis.EventNoDump, "0x124", "page file too small (volmgr 49)")
	dpc := job(310, analysis.EventNoDump, "0x133", "")
	power := job(316, analysis.EventUnexpectedReboot, "", "")
	o := e.options()
	o.Engine, o.CDBPath, o.ShareDir = analyzer.EngineNative, "", t.TempDir()
	e.start(o, analyzer.Deps{Rules: func() analyzer.RuleSet { return rl.Current() }})

	r := e.result(whea.ID)
	var ids []string
	for _, m := range r.Matches {
		ids = append(ids, m.ID)
	}
	v := r.Verdict
	if r.Status != pipeline.StatusOK || r.Engine != analyzer.EngineEventLog || r.Confidence != "low" || !slices.Contains(ids, "whea-uncorrectable-error") ||
		v.Kind != analysis.KindHardware || !v.NoDump || v.Reason != "the platform reported an uncorrectable hardware error (WHEA): check the WHEA events, CPU, memory and firmware; no dump was saved: page file too small (volmgr 49)" ||
		r.Analysis == nil || r.Analysis.BugcheckName != "WHEA_UNCORRECTABLE_ERROR" || r.Analysis.OSBuild != 19045 || r.RulesVersion == "" {
		t.Errorf("0x124 without a dump: status %s engine %s matches %v verdict %+v", r.Status, r.Engine, ids, v)
	}
	r = e.result(dpc.ID)
	if r.Status != pipeline.StatusOK || len(r.Matches) != 0 || r.Verdict.Headline != "DPC_WATCHDOG_VIOLATION (0x133) at 08:22 UTC; no dump was saved" {
		t.Errorf("0x133 without a dump: matches %v headline %q", r.Matches, r.Verdict.Headline)
	}
	r = e.result(power.ID)
	if r.Status != pipeline.StatusOK || r.Analysis != nil || len(r.Matches) != 0 || r.Verdict.Kind != analysis.KindReboot || r.Verdict.Bucket != "reboot" {
		t.Errorf("power loss: %+v %+v", r, r.Verdict)
	}
	if n := e.jobsLeft(); n != 0 {
		t.Errorf("%d jobs left in the queue", n)
	}
}
