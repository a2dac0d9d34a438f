// Package analysis defines what bsodwatch knows about one crash, whichever engine found it:
// the parsed output of the Microsoft debugger or the native dump reader. Its JSON keys are a
// contract (see DESIGN.md): other tools read them, so rename nothing.
package analysis

// Analysis is the result of reading one crash. Every field is optional: a key is present in
// JSON only when the source held it, except Complete, which is always written.
type Analysis struct {
	BugcheckCode        string   `json:"bugcheck_code,omitempty"` // lower-case hex, "0x27"
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
	Modules             []Module `json:"modules,omitempty"`
	DebuggerVersion     string   `json:"debugger_version,omitempty"`
	SymbolPath          string   `json:"symbol_path,omitempty"`
	DumpFile            string   `json:"dump_file,omitempty"`
	DebuggerErrors      []string `json:"debugger_errors,omitempty"`
	// OSBuild is the Windows build number (e.g. 19041) when the source states it.
	OSBuild int `json:"os_build,omitempty"`
	// Arch is x86, x64, arm or arm64 when known.
	Arch string `json:"arch,omitempty"`
	// Complete is false when no analysis was found in the input.
	Complete bool `json:"complete"`
}

// Frame is one stack frame.
type Frame struct {
	Module string `json:"module"`
	Symbol string `json:"symbol"`
	Offset string `json:"offset,omitempty"`
	Source string `json:"source,omitempty"`
}

// Module is one loaded module, from lm/lmv/lmvm blocks or a dump's driver list.
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
}
