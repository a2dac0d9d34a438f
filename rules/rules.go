// Package rules loads, tests and matches the known-issue rules that operations staff write.
package rules

import (
	"errors"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// Input is what a rule set is matched against.
type Input struct {
	Analysis *analysis.Analysis
	// Engine is "cdb" or "native".
	Engine string
}

// Set is a loaded, validated set of rules. (Placeholder: issue 4 replaces it.)
type Set struct{}

// LoadDir loads every rule file in dir.
func LoadDir(dir string) (*Set, error) { return nil, errors.New("rules: not implemented yet") }

// Match returns the rules that match in, in the documented order.
func (s *Set) Match(in Input) []Match { return nil }

// Version identifies the rule set's content (a hash), recorded in every result.
func (s *Set) Version() string { return "" }
