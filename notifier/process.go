package notifier

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// handle decides what one result means for target t and does it: skip it, post it, or fold
// it into the bucket's open group. seq is the result's stream sequence. It returns nil when
// the message may be acked, errShutdown or a state error when it must come back.
func (n *Notifier) handle(ctx context.Context, t *target, st stateStore, r *pipeline.Result, seq uint64, keepalive func()) error {
	if seq != 0 && seq <= t.lastSeq {
		n.m.results.WithLabelValues(t.name, "duplicate").Inc()
		return nil // redelivered after we handled it
	}
	verdict.Ensure(r) // grouping reads the verdict's bucket
	if err := n.apply(ctx, t, st, r, seq, keepalive); err != nil {
		return err
	}
	t.lastSeq = max(t.lastSeq, seq)
	return nil
}

func (n *Notifier) apply(ctx context.Context, t *target, st stateStore, r *pipeline.Result, seq uint64, keepalive func()) error {
	failed := r.Status == pipeline.StatusFailed
	bucket := r.Bucket()
	isNew := r.Marks.NewBucket
	if !failed && !isReboot(r) { // a reboot without a bug check is no bucket to call new
		// Recorded for every result, routed or not, so "new" means new to bsodwatch and
		// every target agrees on which verdict was the first.
		first, err := st.FirstSeen(ctx, bucket, seq)
		if err != nil {
			return err
		}
		isNew = isNew || first
	}
	if !r.PrunedAt.IsZero() && !r.Reprocessed {
		// Re-issued only to say its dump was pruned (history.MarkPruned): nothing to post.
		n.m.results.WithLabelValues(t.name, "skipped_pruned").Inc()
		return nil
	}
	if r.Reprocessed && slices.Equal(chat.SortedIDs(matchIDs(r)), chat.SortedIDs(r.PreviousMatches)) {
		n.m.results.WithLabelValues(t.name, "skipped_unchanged").Inc()
		return nil
	}
	if !t.route.Match(r) {
		n.m.results.WithLabelValues(t.name, "skipped_route").Inc()
		return nil
	}
	if n.silences != nil && n.silences.Silenced(bucket, n.now()) {
		n.m.results.WithLabelValues(t.name, "skipped_silenced").Inc()
		return nil
	}
	key := verdictKey(r, seq)
	if failed || !t.grouping || r.Reprocessed {
		posted, err := n.deliverOnce(ctx, t, st, key, n.message(chat.KindVerdict, r, isNew, nil), keepalive)
		if err != nil {
			return err
		}
		if posted {
			n.m.results.WithLabelValues(t.name, "posted").Inc()
		}
		return nil
	}

	g := t.groups[bucket]
	if g != nil && seq != 0 && seq <= g.LastSeq {
		n.m.results.WithLabelValues(t.name, "duplicate").Inc()
		return nil // counted before a restart
	}
	now := n.now()
	if g == nil || (g.Pending == 0 && !now.Before(g.WindowStart.Add(t.window))) {
		// First of its bucket in this window: post now, open the window. After a crash
		// between the post and the window's write, the record skips the post and the window
		// is opened now.
		posted, err := n.deliverOnce(ctx, t, st, key, n.message(chat.KindVerdict, r, isNew, nil), keepalive)
		if err != nil {
			return err
		}
		if posted {
			n.m.results.WithLabelValues(t.name, "posted").Inc()
		}
		ng := &groupState{Bucket: bucket, WindowStart: now, Count: 1, Hosts: []string{r.Job.Host}, LastSeq: seq, JobIDs: []string{r.Job.ID}}
		if g != nil {
			ng.Updates = g.Updates
		}
		return n.putGroup(ctx, t, st, ng)
	}
	// A repeat within the window (or one whose update is still due): fold it in; the
	// flush posts the update when the window ends.
	ng := *g
	ng.Hosts = slices.Clone(g.Hosts)
	ng.JobIDs = slices.Clone(g.JobIDs)
	ng.fold(r, seq)
	if err := n.putGroup(ctx, t, st, &ng); err != nil {
		return err
	}
	n.m.results.WithLabelValues(t.name, "grouped").Inc()
	return nil
}

// putGroup stores g before the memory copy changes, so memory never runs ahead of what a
// restart would find.
func (n *Notifier) putGroup(ctx context.Context, t *target, st stateStore, g *groupState) error {
	if err := st.PutGroup(ctx, t.name, g); err != nil {
		return err
	}
	t.groups[g.Bucket] = g
	return nil
}

// flush posts the update of every group whose window has ended with repeats pending, and
// forgets groups whose window ended quietly.
func (n *Notifier) flush(ctx context.Context, t *target, st stateStore) error {
	now := n.now()
	buckets := make([]string, 0, len(t.groups))
	for b := range t.groups {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	for _, b := range buckets {
		g := t.groups[b]
		if now.Before(g.WindowStart.Add(t.window)) {
			continue
		}
		if g.Pending == 0 || g.Last == nil {
			if err := st.DeleteGroup(ctx, t.name, b); err != nil {
				return err
			}
			delete(t.groups, b)
			continue
		}
		grp := &chat.Group{
			Bucket: b, Count: g.Count, Hosts: slices.Clone(g.Hosts), Since: g.WindowStart,
			Window: chat.HumanWindow(t.window), JobIDs: slices.Clone(g.JobIDs), Updates: g.Updates + 1,
		}
		// The update is identified by its window, which only changes once it is posted.
		key := fmt.Sprintf("update:%s:%d:%d", b, g.WindowStart.UnixNano(), g.Updates+1)
		posted, err := n.deliverOnce(ctx, t, st, key, n.message(chat.KindUpdate, g.Last, false, grp), nil)
		if err != nil {
			return err
		}
		if posted {
			n.m.results.WithLabelValues(t.name, "updated").Inc()
		}
		// The next window starts now: further repeats make the next update.
		if err := n.putGroup(ctx, t, st, &groupState{Bucket: b, WindowStart: now, LastSeq: g.LastSeq, Updates: g.Updates + 1}); err != nil {
			return err
		}
	}
	return nil
}

func matchIDs(r *pipeline.Result) []string {
	ids := make([]string, 0, len(r.Matches))
	for _, m := range r.Matches {
		ids = append(ids, m.ID)
	}
	return ids
}

// verdictKey identifies a verdict's delivery across redeliveries and restarts: the result's
// message ID (job and rules version, as the analyzer deduplicates its publishes), else the
// stream sequence.
func verdictKey(r *pipeline.Result, seq uint64) string {
	if r.Job.ID != "" {
		return "result:" + r.MsgID()
	}
	if seq != 0 {
		return "seq:" + strconv.FormatUint(seq, 10)
	}
	return ""
}

// deliverOnce delivers m to t unless t already recorded key as done, and records it right
// after the post, before the message is acked: a result redelivered after a crash between
// its post and its ack is then not posted again. It reports whether it posted (or failed
// for good). What no record can close is a crash after the post and before the record is
// written: a webhook cannot say "already posted", so that narrow window may still repeat a
// message (at-least-once, not exactly-once).
func (n *Notifier) deliverOnce(ctx context.Context, t *target, st stateStore, key string, m *chat.Message, keepalive func()) (bool, error) {
	log := n.log.With().Str("target", t.name).Str("job_id", m.Result.Job.ID).Str("kind", m.Kind).Logger()
	if key != "" {
		done, err := st.Delivered(ctx, t.name, key)
		if err != nil {
			return false, err
		}
		if done {
			n.m.results.WithLabelValues(t.name, "already_delivered").Inc()
			log.Info().Msg("delivered before a restart; not posted again")
			return false, nil
		}
	}
	if err := n.deliver(ctx, t, m, keepalive); err != nil {
		return false, err
	}
	if key == "" {
		return true, nil
	}
	// Written even when the notifier is stopping: the post went out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := st.MarkDelivered(wctx, t.name, key); err != nil {
		// Acking still beats a nak: a nak would post again for certain.
		log.Warn().Err(err).Msg("delivery record not written; a redelivery would post again")
	}
	return true, nil
}
