package rules

import "github.com/bsodwatch/bsodwatch/analysis"

// Match is one rule that matched an analysis; the type lives in package analysis so that
// the verdicts that carry it do not depend on the rule engine.
type Match = analysis.Match
