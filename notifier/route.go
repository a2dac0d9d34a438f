package notifier

import (
	"github.com/bsodwatch/bsodwatch/analysis"

	"strings"

	"github.com/bsodwatch/bsodwatch/pipeline"
)

// verdictKind is known, unknown or failed.
func verdictKind(r *pipeline.Result) string {
	switch {
	case r.Status == pipeline.StatusFailed:
		return "failed"
	case len(issues(r)) > 0:
		return "known"
	}
	return "unknown"
}

// Match reports whether r goes through this route. An unexpected reboot must pass Reboots
// too (it is an unknown verdict: no rule explains it).
func (rt Route) Match(r *pipeline.Result) bool {
	if isReboot(r) {
		switch rt.Reboots {
		case RebootsAll:
		case RebootsNone:
			return false
		default:
			if !r.Marks.CrashLoop {
				return false
			}
		}
	}
	if len(rt.Verdicts) > 0 && !anyFold(rt.Verdicts, verdictKind(r)) {
		return false
	}
	if len(rt.Severities) > 0 {
		var sev []string
		for _, m := range r.Matches {
			sev = append(sev, m.Severity)
		}
		if !anyFold(rt.Severities, sev...) {
			return false
		}
	}
	if len(rt.RuleTags) > 0 {
		var tags []string
		for _, m := range r.Matches {
			tags = append(tags, m.Tags...)
		}
		if !anyFold(rt.RuleTags, tags...) {
			return false
		}
	}
	if len(rt.HostTags) > 0 && !anyFold(rt.HostTags, r.Job.HostTags...) {
		return false
	}
	return true
}

// anyFold reports whether any of have is in want, ignoring case.
func anyFold(want []string, have ...string) bool {
	for _, w := range want {
		for _, h := range have {
			if strings.EqualFold(w, h) {
				return true
			}
		}
	}
	return false
}

// isReboot reports whether r is an unexpected reboot without a bug check.
func isReboot(r *pipeline.Result) bool {
	return r.Verdict != nil && r.Verdict.Kind == analysis.KindReboot
}

// issues are the matches that explain the crash (not flags such as a vulnerable driver).
func issues(r *pipeline.Result) []analysis.Match {
	is, _ := analysis.Explaining(r.Matches)
	return is
}
