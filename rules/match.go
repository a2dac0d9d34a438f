package rules

// Match is one rule that matched an analysis, with what to tell people and why it matched.
// Its JSON form is part of every result and is read by the notifier and history commands.
type Match struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Severity    string   `json:"severity"`
	Summary     string   `json:"summary,omitempty"`
	Explanation string   `json:"explanation,omitempty"`
	Remedy      []string `json:"remedy,omitempty"`
	Links       []string `json:"links,omitempty"`
	Owner       string   `json:"owner,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// Why lists the facts that met the rule's conditions, one line each.
	Why []string `json:"why"`
}
