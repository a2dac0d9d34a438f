// Package chat holds what every notifier integration shares: the message to send, the
// escaped view that templates render, and HTTP delivery that classifies failures into
// "retry" or "give up" with a reason for metrics. It imports no integration, so each
// integration package and the notifier can import it.
package chat

import (
	"time"

	"github.com/bsodwatch/bsodwatch/pipeline"
)

// Message kinds.
const (
	KindVerdict = "verdict" // one result, posted as it arrives
	KindUpdate  = "update"  // a summary of repeats of one bucket within a window
)

// Message is one thing to post: a verdict, or an update summarising a group of verdicts of
// one bucket. Result is the newest verdict in the group.
type Message struct {
	Kind   string
	Result *pipeline.Result
	// New is true when the bucket was never seen before.
	New bool
	// Group is set on updates.
	Group *Group
	// ResultURL points at the full result (for truncated messages); may be empty.
	ResultURL string
}

// Group describes the verdicts of one bucket that were folded into an update.
type Group struct {
	Bucket  string    `json:"bucket"`
	Count   int       `json:"count"`
	Hosts   []string  `json:"hosts"`
	Since   time.Time `json:"since"`
	Window  string    `json:"window"`
	JobIDs  []string  `json:"job_ids,omitempty"`
	Updates int       `json:"updates,omitempty"`
}
