package analyzer

import (
	"strconv"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// EngineEventLog names the engine of verdicts made from a host's System event log alone, for
// a crash that left no dump to read.
const EngineEventLog = "eventlog"

// EventAnalysis is the engine's result for a crash known from the host's event log alone: the
// bug check code and arguments the log holds are its analysis (named from the bug check
// reference, the build from the log's Windows version), so rules that ask only for a code and
// its arguments match it as they match a dump's, while those that need a module or a stack
// cannot. Its confidence is low: nothing names a culprit. An unexpected reboot has no
// analysis.
func EventAnalysis(ev *analysis.CrashEvent) *pipeline.Result {
	res := &pipeline.Result{Engine: EngineEventLog}
	code, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(ev.BugcheckCode), "0x"), 16, 32)
	if ev.Kind == analysis.EventUnexpectedReboot || ev.BugcheckCode == "" || err != nil {
		return res
	}
	res.Analysis = &analysis.Analysis{
		BugcheckCode: ev.BugcheckCode,
		BugcheckName: dumpfile.BugcheckName(uint32(code)),
		Args:         ev.Args,
		OSBuild:      verdict.BuildOf(ev.OSVersion),
		Complete:     true,
	}
	res.Confidence = "low"
	return res
}
