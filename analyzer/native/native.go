// Package native is the analyzer's engine that needs no debugger: it reads the dump file with
// package dumpfile and turns what it finds into the same analysis.Analysis the debugger's
// output parser produces (so known-issue rules match both alike) and a probable cause.
package native

import (
	"fmt"
	"io"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// maxStackFrames bounds the stack-scan frames put in an analysis.
const maxStackFrames = 32

// Analyze reads the dump and returns an analysis and the probable cause.
func Analyze(ra io.ReaderAt, size int64) (*analysis.Analysis, *pipeline.Cause, error) {
	d, err := dumpfile.Read(ra, size)
	if err != nil {
		return nil, nil, err
	}
	c := d.ProbableCause()
	return AnalysisOf(d, c), CauseOf(c), nil
}

// Confidence is the confidence of a native verdict for pipeline.Result.Confidence: the
// probable cause's, or low when there is none.
func Confidence(c *pipeline.Cause) string {
	if c == nil || c.Confidence == "" {
		return string(dumpfile.Low)
	}
	return c.Confidence
}

// CauseOf converts a probable cause to the pipeline's form.
func CauseOf(c dumpfile.Cause) *pipeline.Cause {
	pc := &pipeline.Cause{
		Outcome:    string(c.Outcome),
		Module:     c.Module,
		Reason:     c.Reason,
		Confidence: string(c.Confidence),
		Evidence:   c.Evidence,
	}
	if c.Module != "" && c.HasAddress {
		pc.Offset = hex(c.Offset)
	}
	return pc
}

// AnalysisOf maps a dump and its probable cause onto the debugger parser's keys, named the
// way cdb names them (MODULE_NAME "amdppm", IMAGE_NAME "amdppm.sys", the kernel as "nt").
func AnalysisOf(d *dumpfile.Dump, c dumpfile.Cause) *analysis.Analysis {
	a := &analysis.Analysis{OSBuild: d.Build, Arch: d.Arch, Complete: true}
	if d.Kernel() {
		a.BugcheckCode = hex(uint64(d.BugcheckCode))
		a.BugcheckName = dumpfile.BugcheckName(d.BugcheckCode)
		a.Args = args(d)
		switch d.BugcheckCode &^ 0x10000000 {
		case 0x1E, 0x7E, 0x8E: // parameter 1 is the exception code
			a.ExceptionCode = hex(d.BugcheckParams[0] & 0xFFFFFFFF)
		}
		for _, m := range d.Drivers {
			a.Modules = append(a.Modules, module(m))
		}
		for _, h := range d.StackHits() {
			if len(a.Stack) == maxStackFrames {
				break
			}
			name := ModuleName(h.Module)
			a.Stack = append(a.Stack, analysis.Frame{Module: name, Symbol: fmt.Sprintf("%s+0x%x", name, h.Offset), Offset: hex(h.Offset)})
		}
	} else {
		if d.Exception != nil {
			a.ExceptionCode = hex(uint64(d.Exception.Code))
		}
		if len(d.Modules) > 0 {
			a.ProcessName = d.Modules[0].Name()
		}
		for _, m := range d.Modules {
			a.Modules = append(a.Modules, module(m))
		}
	}
	switch {
	case c.Outcome == dumpfile.OutcomeHardware:
		a.ModuleName, a.ImageName = "hardware", "hardware"
	case c.Outcome == dumpfile.OutcomeModule && c.Module != "":
		a.ModuleName, a.ImageName = ModuleName(c.Module), c.Module
		// Only the probable cause, not the raw stack scan (stale values), names a third party.
		if !a.IsMicrosoft(c.Module) {
			a.ThirdPartyModule = ModuleName(c.Module)
		}
	}
	return a
}

func module(m dumpfile.Module) analysis.Module {
	return analysis.Module{
		Name:           ModuleName(m.Name()),
		Start:          hex(m.Base),
		End:            hex(m.End()),
		ImagePath:      m.Path,
		ImageName:      m.Name(),
		Timestamp:      hex(uint64(m.Timestamp)),
		Checksum:       hex(uint64(m.Checksum)),
		ImageSize:      hex(uint64(m.Size)),
		FileVersion:    m.FileVersion,
		ProductVersion: m.ProductVersion,
	}
}

// ModuleName is the debugger's module name for an image file name: the name without its
// extension, "nt" for the kernel image.
func ModuleName(image string) string {
	if dumpfile.IsKernelImage(image) {
		return "nt"
	}
	if i := strings.LastIndexByte(image, '.'); i > 0 {
		return image[:i]
	}
	return image
}

func args(d *dumpfile.Dump) []string {
	out := make([]string, len(d.BugcheckParams))
	for i, p := range d.BugcheckParams {
		out[i] = hex(p)
	}
	return out
}

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }
