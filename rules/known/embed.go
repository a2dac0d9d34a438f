// Package known is the shipped library of known-issue rules: publicly documented Windows
// crash causes with their vendors' guidance. It is embedded so that bsodwatch works out of
// the box without the source tree; operations add their own rules in a directory of their own.
package known

import "embed"

// FS holds the shipped rule files at its top level and their fixtures under testdata/.
//
//go:embed *.yaml testdata
var FS embed.FS
