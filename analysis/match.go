package analysis

// Match is one known-issue rule that matched an analysis, with what to tell people and why it
// matched. The rule engine (package rules) produces it; its JSON form is part of every verdict
// and is read by the notifier, the history commands and the web console.
type Match struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Severity    string   `json:"severity"`
	Summary     string   `json:"summary,omitempty"`
	Explanation string   `json:"explanation,omitempty"`
	Remedy      []string `json:"remedy,omitempty"`
	Links       []string `json:"links,omitempty"`
	// Confidence says how sure the rule's facts are (sources read, what is unconfirmed).
	Confidence string   `json:"confidence,omitempty"`
	Owner      string   `json:"owner,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	// Why lists the facts that met the rule's conditions, one line each.
	Why []string `json:"why"`
}

// Culprit is the module blamed for a crash and what is known about who makes it: from the
// module's own version resource (lmvm CompanyName, ProductName) or from the shipped driver
// reference. Its JSON form is a contract (DESIGN.md: `culprit`).
type Culprit struct {
	// Module is the image file name as the dump names it ("rt640x64.sys", "crashme.exe").
	Module string `json:"module"`
	// Vendor and Product say who makes it ("Realtek", "PCIe GbE family controller driver").
	Vendor  string `json:"vendor,omitempty"`
	Product string `json:"product,omitempty"`
	// Kind is what sort of driver it is: antivirus-filter, network, display, storage,
	// virtualization, backup, anti-cheat, ... (see the driver reference's list).
	Kind string `json:"kind,omitempty"`
	// Description is one line for people ("Realtek PCIe GbE network driver").
	Description string `json:"description,omitempty"`
	// Source says where vendor and product came from: "module" (the module's version
	// resource), "reference" (the shipped driver table), "microsoft" (a Windows module).
	Source string `json:"source,omitempty"`
}
