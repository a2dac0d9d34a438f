// Package analysis defines what bsodwatch knows about one crash, whichever engine found it:
// the parsed output of the Microsoft debugger or the native dump reader. Its JSON keys are a
// contract (see DESIGN.md): other tools read them, so rename nothing.
package analysis

// Analysis is the result of reading one crash. Every field is optional: a key is present in
// JSON only when the source held it, except Complete, which is always written.
type Analysis struct {
	BugcheckCode string `json:"bugcheck_code,omitempty"` // lower-case hex, "0x27"
	// BugcheckName is the name the debugger printed ("DRIVER_IRQL_NOT_LESS_OR_EQUAL (d1)").
	// When it printed none (a paste without the name line, only "BugCheck 7E, {...}", or
	// "Unknown bugcheck code"), the parser fills it from the bug check code reference
	// (dumpfile.BugcheckName); it stays empty for a code that reference does not know.
	BugcheckName        string   `json:"bugcheck_name,omitempty"`
	Args                []string `json:"args,omitempty"` // hex strings as printed
	BugcheckStr         string   `json:"bugcheck_str,omitempty"`
	ExceptionCode       string   `json:"exception_code,omitempty"`
	ProcessName         string   `json:"process_name,omitempty"`
	FailureBucketID     string   `json:"failure_bucket_id,omitempty"`
	BucketID            string   `json:"bucket_id,omitempty"`
	DefaultBucketID     string   `json:"default_bucket_id,omitempty"`
	PrimaryProblemClass string   `json:"primary_problem_class,omitempty"`
	ModuleName          string   `json:"module_name,omitempty"`
	ImageName           string   `json:"image_name,omitempty"`
	ImageVersion        string   `json:"image_version,omitempty"`
	SymbolName          string   `json:"symbol_name,omitempty"`
	FollowupName        string   `json:"followup_name,omitempty"`
	Stack               []Frame  `json:"stack,omitempty"`
	ThirdPartyModule    string   `json:"third_party_module,omitempty"`
	// BlamedModule is the module the text blames when it has no usable MODULE_NAME or
	// IMAGE_NAME: the FAULTING_IP, exception or context record address or FAULTING_MODULE
	// of an analysis, its failure bucket, a crash tool's verdict (WhoCrashed,
	// BlueScreenView), the stop screen's "What failed", the one third-party image the
	// debugger could not load, or, in prose about a crash with no analysis, the one
	// third-party driver it names. BlamedBy says which (BlamedBy...).
	// CulpritName falls back to it.
	BlamedModule string `json:"blamed_module,omitempty"`
	BlamedBy     string `json:"blamed_by,omitempty"`
	// Suspect is the one vendor's driver a person would look at next when the analysis blames
	// only Windows' own code: a loaded third-party driver of a kind that runs in the part of
	// Windows that crashed (a firewall's callout for a crash in NETIO, an antivirus filter
	// for FLTMGR). SuspectWhy says so in words, starting "suspect, not proven". The driver
	// reference sets both (drivers.Attribute); CulpritName prefers Suspect to a Windows module.
	Suspect    string `json:"suspect,omitempty"`
	SuspectWhy string `json:"suspect_why,omitempty"`
	// MentionedDrivers are the third-party drivers an analysis' text names outside its module
	// list, stack and blamed module: driver files (".sys") of a pasted list of drivers, a
	// path or a note, and, for a kernel crash, the modules of stack frames printed below the
	// analysis (a !thread, kv or dps listing; these carry no extension). The driver reference
	// weighs them, as named and not as loaded, when it looks for a Suspect.
	MentionedDrivers []string `json:"mentioned_drivers,omitempty"`
	// Culprit is the module blamed for the crash with its vendor and product (from the
	// module's version resource or the shipped driver reference), when one is named.
	Culprit         *Culprit `json:"culprit,omitempty"`
	Modules         []Module `json:"modules,omitempty"`
	DebuggerVersion string   `json:"debugger_version,omitempty"`
	SymbolPath      string   `json:"symbol_path,omitempty"`
	DumpFile        string   `json:"dump_file,omitempty"`
	DebuggerErrors  []string `json:"debugger_errors,omitempty"`
	// OSBuild is the Windows build number (e.g. 19041) when the source states it.
	OSBuild int `json:"os_build,omitempty"`
	// Arch is x86, x64, arm or arm64 when known.
	Arch string `json:"arch,omitempty"`
	// ExceptionRecord is the EXCEPTION_RECORD block of the analysis (.exr), when printed. Its
	// code can differ from ExceptionCode (e.g. an SEH overwrite reported as c0000409).
	ExceptionRecord *ExceptionRecord `json:"exception_record,omitempty"`
	// Fields holds every `KEY: value` line of the analysis as printed (upper-case keys such
	// as STACK_COMMAND, FAILURE_ID_HASH, OSNAME), including those with typed fields above.
	Fields map[string]string `json:"fields,omitempty"`
	// KeyValues holds the KEY_VALUES_STRING block of newer debuggers ("Key : Value" pairs).
	KeyValues map[string]string `json:"key_values,omitempty"`
	// Session describes the debugger session around the analysis (cdb console logs).
	Session *Session `json:"session,omitempty"`
	// Diagnostics are the debugger errors of DebuggerErrors, classified.
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
	// Complete is false when no analysis was found in the input.
	Complete bool `json:"complete"`
}

// What BlamedBy can say: where the blamed module was named.
const (
	BlamedByFaultingIP       = "faulting_ip"       // the FAULTING_IP line's module
	BlamedByFaultingModule   = "faulting_module"   // the FAULTING_MODULE line
	BlamedByWhoCrashed       = "whocrashed"        // "This was probably caused by the following module"
	BlamedByBlueScreenView   = "bluescreenview"    // BlueScreenView's "Caused By Driver"
	BlamedByStopScreen       = "stop_screen"       // "What failed:", "NAME (x.sys)" or "*** X.sys - Address ..."
	BlamedByExceptionAddress = "exception_address" // the module of the exception or context record's instruction
	BlamedByBucket           = "bucket"            // the module a failure bucket names ("0x3B_acme!Fn", "AV_acme!Fn")
	BlamedByUnloadableImage  = "unloadable_image"  // the one third-party image the debugger could not load
	BlamedByMentioned        = "mentioned"         // the one third-party driver that prose about a crash names
	BlamedByMentionedWindows = "mentioned_windows" // the one driver such prose names, of Windows' own, when it names no other
	BlamedByStackExcerpt     = "stack_excerpt"     // the innermost third-party frame of a stack pasted without an analysis
	BlamedByExamined         = "examined"          // the one third-party module a text without an analysis shows with lmvm
)

// BlamedByText says in words how a BlamedBy value named the module.
func BlamedByText(by string) string {
	switch by {
	case BlamedByFaultingIP:
		return "the faulting instruction is in it (FAULTING_IP)"
	case BlamedByFaultingModule:
		return "named by the debugger's analysis (FAULTING_MODULE)"
	case BlamedByWhoCrashed:
		return "named by WhoCrashed's report"
	case BlamedByBlueScreenView:
		return "named by BlueScreenView's report (Caused By Driver)"
	case BlamedByStopScreen:
		return "named on the stop screen"
	case BlamedByExceptionAddress:
		return "the faulting instruction is in it (exception or context record)"
	case BlamedByBucket:
		return "named by the failure bucket"
	case BlamedByMentioned:
		return "the only third-party driver the text names (no analysis in it)"
	case BlamedByMentionedWindows:
		return "the only driver the text names, one of Windows' own (no analysis in it)"
	case BlamedByStackExcerpt:
		return "the innermost third-party frame of the stack the text holds (no analysis in it)"
	case BlamedByExamined:
		return "the only third-party module the text examines with lmvm (no analysis in it)"
	case BlamedByUnloadableImage:
		return "the only third-party image the debugger could not load"
	}
	return ""
}

// ExceptionRecord is the exception record printed inside an analysis.
type ExceptionRecord struct {
	Address string `json:"address,omitempty"`
	Code    string `json:"code,omitempty"`
	Flags   string `json:"flags,omitempty"`
	// Subcode is the fail-fast subcode line ("0x2 FAST_FAIL_STACK_COOKIE_CHECK_FAILURE").
	Subcode string `json:"subcode,omitempty"`
}

// Session is what a cdb console log says about the debugger run and the target.
type Session struct {
	DumpType         string   `json:"dump_type,omitempty"`
	DumpComments     []string `json:"dump_comments,omitempty"`
	OSLine           string   `json:"os_line,omitempty"` // "Windows 10 Version 19045 MP (4 procs) Free x64"
	Product          string   `json:"product,omitempty"`
	BuiltBy          string   `json:"built_by,omitempty"`
	EditionBuildLab  string   `json:"edition_build_lab,omitempty"`
	BuildLab         string   `json:"build_lab,omitempty"` // a bare build-lab line
	DebugSessionTime string   `json:"debug_session_time,omitempty"`
	SystemUptime     string   `json:"system_uptime,omitempty"`
	ProcessUptime    string   `json:"process_uptime,omitempty"`
	InitialCommand   string   `json:"initial_command,omitempty"` // cdb -c, as cdb echoes it
	// Commands are the commands typed at debugger prompts, in order.
	Commands []string `json:"commands,omitempty"`
	// Quit is true when the log ends with cdb's "quit:".
	Quit bool `json:"quit,omitempty"`
}

// Diagnostic is one debugger error or warning the parser recognised.
type Diagnostic struct {
	// Kind is one of: symbols, dump_open, extension_load, plugins, analysis, input.
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Command is the prompt command whose output held the message, when known.
	Command string `json:"command,omitempty"`
	// Code is the error number as printed (HRESULT, "0n193" Win32 error).
	Code string `json:"code,omitempty"`
	// Detail is the explanation the debugger printed on the following line.
	Detail string `json:"detail,omitempty"`
}

// Frame is one stack frame.
type Frame struct {
	Module string `json:"module"`
	Symbol string `json:"symbol"`
	Offset string `json:"offset,omitempty"`
	Source string `json:"source,omitempty"`
}

// Module is one loaded module, from lm/lmv/lmvm blocks or a dump's driver list, or the
// blamed module as a crash tool's report describes it (its path and version resource).
type Module struct {
	Name           string `json:"name"`
	Start          string `json:"start,omitempty"`
	End            string `json:"end,omitempty"`
	ImagePath      string `json:"image_path,omitempty"`
	ImageName      string `json:"image_name,omitempty"`
	Timestamp      string `json:"timestamp,omitempty"`
	Checksum       string `json:"checksum,omitempty"`
	ImageSize      string `json:"image_size,omitempty"`
	FileVersion    string `json:"file_version,omitempty"`
	ProductVersion string `json:"product_version,omitempty"`
	CompanyName    string `json:"company_name,omitempty"`
	// TimestampHex is the link timestamp in hex, taken from Timestamp ("... (42DDB287)").
	TimestampHex string `json:"timestamp_hex,omitempty"`
	// TimestampIsHash is true when the module was built reproducibly (/Brepro): its
	// TimestampHex is a hash of the file, not a date, and must not be shown as one.
	TimestampIsHash       bool   `json:"timestamp_is_hash,omitempty"`
	SymbolStatus          string `json:"symbol_status,omitempty"` // "(export symbols)", "(deferred)", ...
	SymbolFile            string `json:"symbol_file,omitempty"`   // pdb path printed after the status
	LoadedSymbolImageFile string `json:"loaded_symbol_image_file,omitempty"`
	MappedImageFile       string `json:"mapped_memory_image_file,omitempty"`
	ProductName           string `json:"product_name,omitempty"`
	FileDescription       string `json:"file_description,omitempty"`
	OriginalFilename      string `json:"original_filename,omitempty"`
	// Resources holds every version-resource row as printed (CompanyName, FileVersion, ...).
	Resources map[string]string `json:"resources,omitempty"`
}
