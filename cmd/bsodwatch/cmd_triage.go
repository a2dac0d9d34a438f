package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer/native"
	"github.com/bsodwatch/bsodwatch/drivers"
	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// cmdTriage reads dump files natively and prints what they hold. Exit status: 0 when every
// file was read; 2 when any file is not a Windows dump, is truncated, corrupt or a CAB (one
// line per bad file on stderr, the good files still print); 1 when a file cannot be opened;
// 130 when interrupted between files.
func cmdTriage(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "triage", "triage [--json] [--drivers] FILE...\n\n"+
		"Reads Windows crash dumps (MEMORY.DMP, Minidump\\*.dmp, user-mode .dmp) without a debugger.\n"+
		"Exit status: 0 all read, 2 a file is not a Windows dump / truncated / corrupt / a CAB, 1 a file cannot be opened.")
	asJSON := fs.Bool("json", false, "print one JSON object per file (stable keys)")
	listDrivers := fs.Bool("drivers", false, "list every driver or module (human output; --json always lists them)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	read := func(path string) (*triageReport, int, error) {
		d, err := dumpfile.Open(path)
		if err != nil {
			return nil, 0, err
		}
		return newTriageReport(path, d), exitOK, nil
	}
	return eachFile(ctx, e, "triage", fs.Args(), *asJSON, read, badDump, func(w io.Writer, r *triageReport) { printTriage(w, r, *listDrivers) })
}

func badDump(err error) bool {
	for _, t := range []error{dumpfile.ErrNotWindowsDump, dumpfile.ErrTruncated, dumpfile.ErrCorrupt, dumpfile.ErrCompressedCAB} {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func oneLine(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "no such file"
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// triageReport is the JSON of `bsodwatch triage --json`; its keys are a contract.
type triageReport struct {
	File            string           `json:"file"`
	Format          string           `json:"format"`
	DumpType        string           `json:"dump_type"`
	Arch            string           `json:"arch,omitempty"`
	Processors      int              `json:"processors,omitempty"`
	Build           int              `json:"build,omitempty"`
	OSVersion       string           `json:"os_version,omitempty"`
	ServicePack     string           `json:"service_pack,omitempty"`
	NtBuildLab      string           `json:"nt_build_lab,omitempty"`
	BugcheckCode    string           `json:"bugcheck_code,omitempty"`
	BugcheckName    string           `json:"bugcheck_name,omitempty"`
	Args            []string         `json:"args,omitempty"`
	SystemTime      time.Time        `json:"system_time,omitzero"`
	UptimeSeconds   float64          `json:"uptime_seconds,omitempty"`
	Attributes      []string         `json:"attributes,omitempty"`
	BootID          *uint32          `json:"boot_id,omitempty"`
	ContextPC       string           `json:"context_pc,omitempty"`
	Exception       *triageException `json:"exception,omitempty"`
	ProcessName     string           `json:"process_name,omitempty"`
	ProcessID       *uint32          `json:"process_id,omitempty"`
	Threads         int              `json:"threads,omitempty"`
	Drivers         []triageModule   `json:"drivers,omitempty"`
	UnloadedDrivers []triageUnloaded `json:"unloaded_drivers,omitempty"`
	Modules         []triageModule   `json:"modules,omitempty"`
	StackModules    []string         `json:"stack_modules,omitempty"`
	ProbableCause   *pipeline.Cause  `json:"probable_cause"`
	// Verdict is what the analyzer's native engine would say (package verdict).
	Verdict  *analysis.Verdict `json:"verdict,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
}

type triageException struct {
	Code     string   `json:"code"`
	Name     string   `json:"name,omitempty"`
	Address  string   `json:"address"`
	Module   string   `json:"module,omitempty"` // module+offset holding the address
	Params   []string `json:"params,omitempty"`
	ThreadID uint32   `json:"thread_id,omitempty"`
}

type triageModule struct {
	Name      string `json:"name"`
	Path      string `json:"path,omitempty"`
	Base      string `json:"base"`
	Size      string `json:"size"`
	Timestamp string `json:"timestamp"`
	// Built is the link date ("2019-12-06"), or says the timestamp is a reproducible-build
	// hash.
	Built       string `json:"built,omitempty"`
	Checksum    string `json:"checksum,omitempty"`
	FileVersion string `json:"file_version,omitempty"`
	// Vendor and Kind come from the driver reference, for known third-party drivers.
	Vendor string `json:"vendor,omitempty"`
	Kind   string `json:"kind,omitempty"`
}

type triageUnloaded struct {
	Name  string `json:"name"`
	Start string `json:"start"`
	End   string `json:"end"`
}

var attributeNames = []struct {
	bit  uint32
	name string
}{
	{dumpfile.AttrHiberCrash, "hiber_crash"},
	{dumpfile.AttrPowerOff, "dump_device_power_off"},
	{dumpfile.AttrInsufficientSize, "insufficient_dumpfile_size"},
	{dumpfile.AttrKernelTriage, "kernel_generated_triage_dump"},
	{dumpfile.AttrLiveDump, "live_dump"},
	{dumpfile.AttrGeneratedOffline, "generated_offline"},
	{dumpfile.AttrFilterDump, "filter_dump"},
	{dumpfile.AttrEarlyBootCrash, "early_boot_crash"},
	{dumpfile.AttrEncryptedDumpData, "encrypted"},
	{dumpfile.AttrDecryptedDump, "decrypted"},
}

func hex64(v uint64) string { return fmt.Sprintf("0x%x", v) }

func newTriageReport(path string, d *dumpfile.Dump) *triageReport {
	c := d.ProbableCause()
	res := &pipeline.Result{Status: pipeline.StatusOK, Engine: "native", Job: pipeline.Job{Header: intake.HeaderOf(d)},
		Analysis: native.AnalysisOf(d, c), ProbableCause: native.CauseOf(c)}
	drivers.Attribute(res.Analysis)
	r := &triageReport{
		File: path, Format: d.Format, DumpType: d.DumpType, Arch: d.Arch, Processors: d.Processors,
		Build: d.Build, OSVersion: d.OSVersion, ServicePack: d.CSDVersion, NtBuildLab: d.NtBuildLab,
		SystemTime: d.SystemTime, UptimeSeconds: d.Uptime.Seconds(), Threads: d.ThreadCount,
		ProbableCause: res.ProbableCause, Verdict: verdict.Of(res), Warnings: d.Warnings,
	}
	if d.Kernel() {
		h := intake.HeaderOf(d)
		r.BugcheckCode, r.BugcheckName, r.Args = h.BugcheckCode, h.BugcheckName, h.Args
		if d.HasAttributes {
			for _, a := range attributeNames {
				if d.Attributes&a.bit != 0 {
					r.Attributes = append(r.Attributes, a.name)
				}
			}
		}
		if d.HasBootID {
			r.BootID = &d.BootID
		}
		r.StackModules = dumpfile.ModuleSequence(d.StackHits(), 12)
	}
	if d.HasContext {
		r.ContextPC = hex64(d.ContextPC)
	}
	if x := d.Exception; x != nil {
		te := &triageException{Code: hex64(uint64(x.Code)), Name: dumpfile.ExceptionName(x.Code), Address: hex64(x.Address), ThreadID: x.ThreadID}
		if h, ok := d.ModuleAt(x.Address); ok {
			te.Module = h.String()
		}
		for _, p := range x.Params {
			te.Params = append(te.Params, hex64(p))
		}
		r.Exception = te
	}
	if d.HasProcessID {
		r.ProcessID = &d.ProcessID
	}
	if len(d.Modules) > 0 {
		r.ProcessName = d.Modules[0].Name()
	}
	for _, m := range d.Drivers {
		r.Drivers = append(r.Drivers, triageModuleOf(m, res))
	}
	for _, m := range d.Modules {
		r.Modules = append(r.Modules, triageModuleOf(m, res))
	}
	for _, u := range d.UnloadedDrivers {
		r.UnloadedDrivers = append(r.UnloadedDrivers, triageUnloaded{Name: u.Name, Start: hex64(u.Start), End: hex64(u.End)})
	}
	return r
}

func triageModuleOf(m dumpfile.Module, res *pipeline.Result) triageModule {
	tm := triageModule{
		Name: m.Name(), Path: m.Path, Base: hex64(m.Base), Size: hex64(uint64(m.Size)),
		Timestamp: hex64(uint64(m.Timestamp)), Checksum: hex64(uint64(m.Checksum)), FileVersion: m.FileVersion,
	}
	tm.Built = verdict.Built(&analysis.Module{Name: tm.Name, ImageName: tm.Name, Timestamp: tm.Timestamp}, res)
	if e, ok := drivers.Lookup(tm.Name); ok {
		tm.Vendor, tm.Kind = e.Vendor, e.Kind
	}
	return tm
}

// printTriage writes the human form: the verdict first, details after.
func printTriage(w io.Writer, r *triageReport, all bool) {
	line := func(k, f string, a ...any) { fmt.Fprintf(w, "  %-15s "+f+"\n", append([]any{k}, a...)...) }
	fmt.Fprintf(w, "%s\n", r.File)
	if v := r.Verdict; v != nil {
		line("verdict", "%s", v.Headline)
		if v.Reason != "" && v.Kind != analysis.KindBugcheck && v.Kind != analysis.KindException {
			line("", "%s", v.Reason)
		}
		if v.OS != nil && v.OS.Product != "" {
			line("windows", "%s (build %d)", v.OS.Product, v.OS.Build)
		}
	}
	kind := r.Format + " " + r.DumpType
	if r.Arch != "" {
		kind += ", " + r.Arch
	}
	if r.Processors > 0 {
		kind += fmt.Sprintf(", %d processors", r.Processors)
	}
	line("format", "%s", kind)
	switch {
	case r.OSVersion != "":
		v := r.OSVersion
		if r.ServicePack != "" {
			v += " " + r.ServicePack
		}
		line("windows", "%s", v)
	case r.Build != 0 && r.NtBuildLab != "":
		line("build", "%d (%s)", r.Build, r.NtBuildLab)
	case r.Build != 0:
		line("build", "%d", r.Build)
	}
	if r.BugcheckCode != "" {
		line("bugcheck", "%s", strings.TrimSpace(r.BugcheckCode+" "+r.BugcheckName))
		line("args", "%s", strings.Join(r.Args, " "))
	}
	if !r.SystemTime.IsZero() {
		t := r.SystemTime.Format("2006-01-02 15:04:05 UTC")
		if r.UptimeSeconds > 0 {
			t += fmt.Sprintf(" (up %s)", (time.Duration(r.UptimeSeconds * float64(time.Second))).Round(time.Second))
		}
		line("time", "%s", t)
	}
	if len(r.Attributes) > 0 {
		line("attributes", "%s", strings.Join(r.Attributes, ", "))
	}
	if x := r.Exception; x != nil && r.BugcheckCode == "" {
		at := x.Address
		if x.Module != "" {
			at = x.Module + " (" + x.Address + ")"
		}
		line("exception", "%s %s at %s", x.Code, x.Name, at)
	}
	if r.ProcessName != "" {
		p := r.ProcessName
		if r.ProcessID != nil {
			p += fmt.Sprintf(" (pid %d)", *r.ProcessID)
		}
		line("process", "%s", p)
	}
	if c := r.ProbableCause; c != nil {
		who := c.Module
		if c.Offset != "" {
			who += "+" + c.Offset
		}
		if who == "" {
			who = "-"
		}
		line("probable cause", "%s [%s confidence]", who, c.Confidence)
		line("", "%s", c.Reason)
		for _, ev := range c.Evidence {
			line("", "- %s", ev)
		}
	}
	if len(r.Drivers) > 0 {
		line("drivers", "%d loaded, %d unloaded", len(r.Drivers), len(r.UnloadedDrivers))
	}
	if len(r.Modules) > 0 {
		line("modules", "%d", len(r.Modules))
	}
	for _, wn := range r.Warnings {
		line("warning", "%s", wn)
	}
	if !all {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    NAME\tBASE\tSIZE\tBUILT\tVERSION\tVENDOR\tPATH")
	for _, m := range append(r.Drivers, r.Modules...) {
		built := m.Built
		if strings.HasPrefix(built, "reproducible") {
			built = "reproducible build"
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Base, m.Size, dashIfEmpty(built), dashIfEmpty(m.FileVersion), dashIfEmpty(m.Vendor), m.Path)
	}
	for _, u := range r.UnloadedDrivers {
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Start, "-", "unloaded", "-", "-", "")
	}
	tw.Flush()
}
