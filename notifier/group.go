package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/bsodwatch/bsodwatch/pipeline"
)

// groupState is what a target remembers about one bucket while its window is open. It is
// written through to the state bucket after every change, so a restart resumes the window
// and still posts the pending update.
type groupState struct {
	Bucket string `json:"bucket"`
	// WindowStart opens the current window: the first post, or the last update.
	WindowStart time.Time `json:"window_start"`
	// Count and Hosts cover the crashes in the current window.
	Count int      `json:"count"`
	Hosts []string `json:"hosts"`
	// Pending counts crashes folded in since the last post; an update is due when the
	// window ends with Pending > 0.
	Pending int `json:"pending"`
	// LastSeq is the stream sequence of the newest result applied: a redelivered message
	// at or below it was already counted.
	LastSeq uint64 `json:"last_seq"`
	// Last is the newest verdict, shown in the update.
	Last    *pipeline.Result `json:"last,omitempty"`
	JobIDs  []string         `json:"job_ids,omitempty"`
	Updates int              `json:"updates"`
}

// maxGroupJobs bounds the job IDs kept per group (the update lists them for the webhook).
const maxGroupJobs = 100

func (g *groupState) fold(r *pipeline.Result, seq uint64) {
	g.Count++
	g.Pending++
	if !slices.Contains(g.Hosts, r.Job.Host) {
		g.Hosts = append(g.Hosts, r.Job.Host)
	}
	if len(g.JobIDs) < maxGroupJobs {
		g.JobIDs = append(g.JobIDs, r.Job.ID)
	}
	g.LastSeq = max(g.LastSeq, seq)
	g.Last = r
}

// stateStore keeps the notifier's durable state: group windows per target and the buckets
// seen. The NATS implementation is a KV bucket; tests and --dry-run use memory.
type stateStore interface {
	Groups(ctx context.Context, target string) (map[string]*groupState, error)
	PutGroup(ctx context.Context, target string, g *groupState) error
	DeleteGroup(ctx context.Context, target, bucket string) error
	// FirstSeen records that the result at stream sequence seq saw bucket, and reports
	// whether that result is the bucket's first: the same answer for every target and on
	// every redelivery.
	FirstSeen(ctx context.Context, bucket string, seq uint64) (bool, error)
	// Delivered reports whether delivery key of target was recorded by MarkDelivered and has
	// not expired yet.
	Delivered(ctx context.Context, target, key string) (bool, error)
	// MarkDelivered records that target is done with delivery key (posted, or failed for
	// good); the record expires after the store's TTL.
	MarkDelivered(ctx context.Context, target, key string) error
}

// bucketKey makes a KV-safe key part of a bucket ID, which may hold any character.
func bucketKey(bucket string) string {
	h := sha256.Sum256([]byte(bucket))
	return hex.EncodeToString(h[:16])
}

// memStore is a stateStore in memory.
type memStore struct {
	groups    map[string]map[string]*groupState
	seen      map[string]uint64
	delivered map[string]bool // target + "\x00" + key
}

func newMemStore() *memStore {
	return &memStore{groups: map[string]map[string]*groupState{}, seen: map[string]uint64{}, delivered: map[string]bool{}}
}

func (m *memStore) Delivered(_ context.Context, target, key string) (bool, error) {
	return m.delivered[target+"\x00"+key], nil
}

func (m *memStore) MarkDelivered(_ context.Context, target, key string) error {
	m.delivered[target+"\x00"+key] = true
	return nil
}

func (m *memStore) Groups(_ context.Context, target string) (map[string]*groupState, error) {
	out := map[string]*groupState{}
	for k, g := range m.groups[target] {
		c := *g
		out[k] = &c
	}
	return out, nil
}

func (m *memStore) PutGroup(_ context.Context, target string, g *groupState) error {
	if m.groups[target] == nil {
		m.groups[target] = map[string]*groupState{}
	}
	c := *g
	m.groups[target][g.Bucket] = &c
	return nil
}

func (m *memStore) DeleteGroup(_ context.Context, target, bucket string) error {
	delete(m.groups[target], bucket)
	return nil
}

func (m *memStore) FirstSeen(_ context.Context, bucket string, seq uint64) (bool, error) {
	first, ok := m.seen[bucket]
	if !ok {
		m.seen[bucket] = seq
		return true, nil
	}
	if seq < first {
		m.seen[bucket] = seq
		return true, nil
	}
	return first == seq, nil
}
