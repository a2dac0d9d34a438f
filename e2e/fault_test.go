package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const faultDumps = 100

// slowDebugger makes the replay debugger pause before it answers, as cdb does while it loads
// a dump.
var slowDebugger = []byte("delay: 200ms\n")

// faultRig is a pipeline whose parts run as separate processes of the real binary: an
// embedded NATS server on a loopback port (`run --roles none`), and one process per role
// joining it, all on the test Samba.
type faultRig struct {
	t     *testing.T
	chat  *chatSink
	fleet *fleet
	nats  *proc
	roles map[string]*proc
	names []string // dump file names, each unique
	url   string
}

func newFaultRig(t *testing.T, name string) *faultRig {
	smb := needSMB(t)
	trs := pickTranscripts(t, 20)
	f := newFleet(t, smb, name)
	r := &faultRig{t: t, fleet: f, roles: map[string]*proc{}}
	// 100 dumps over 10 hosts; distinct content, so distinct jobs.
	for i := range faultDumps {
		tr := trs[i%len(trs)]
		n := fmt.Sprintf("1125%02d-%d-01.dmp", i%100, 6000+i)
		f.addDump(t, fmt.Sprintf("fault-pc%d", i%10), n, append(replayDump(tr.path, f.id+n+strings.Repeat("x", 64<<10)), slowDebugger...))
		r.names = append(r.names, n)
	}
	work := t.TempDir()
	// A slow debugger (slowDebugger), a rate-capped fetcher and a chat service that takes
	// its time keep every role busy for a while, so that kills land in the middle of copies,
	// analyses and posts.
	r.chat = newChatSink(t, 50*time.Millisecond)
	port := freePort(t)
	r.url = fmt.Sprintf("127.0.0.1:%d", port)
	cfg := pipelineConfig{
		dataDir: filepath.Join(work, "data"), inventory: f.inventory(t, work), natsURL: "nats://" + r.url,
		engine: "cdb", cdbPath: bin.replaycdb, shareSMBDir: f.id, shareLocal: f.shareDir, smb: smb,
	}.write(t, work)
	b, _ := os.ReadFile(cfg)
	b = []byte(strings.Replace(string(b), "  op_timeout: 10s\n", "  op_timeout: 10s\n  concurrency: 2\n  max_rate_bytes: 2000000\n", 1))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"E2E_CHAT_URL=" + r.chat.srv.URL}
	r.nats = newProc(t, "nats", nil, "run", "--roles", "none", "--data", filepath.Join(work, "nats-data"), "--nats.listen", r.url, "--metrics", "")
	for _, role := range []string{"fetcher", "analyzer", "notifier"} {
		r.roles[role] = newProc(t, role, env, "run", "--roles", role, "--config", cfg)
	}
	return r
}

func (r *faultRig) start(ctx context.Context) {
	r.nats.start(r.t)
	waitTCP(ctx, r.t, r.url)
	for _, p := range r.roles {
		p.start(r.t)
	}
}

// delivered counts the messages per dump.
func (r *faultRig) delivered() map[string]int {
	got := map[string]int{}
	for _, m := range r.chat.messages() {
		for _, n := range r.names {
			if strings.Contains(m, n) {
				got[n]++
			}
		}
	}
	return got
}

// settle waits until every dump has a message, then a little longer for late duplicates,
// and checks: no dump lost, every copy intact, and exactly one message per dump except for at
// most maxRepeats dumps. A repeat is possible only when the notifier is SIGKILLed after the
// chat service accepted a post and before the answer reached it: no chat webhook can be asked
// whether a post arrived, so that one post is made again (README, "Delivery guarantees").
// Callers pass the number of notifier kills; a repeat without one is a bug.
func (r *faultRig) settle(d time.Duration, maxRepeats int) {
	t := r.t
	r.chat.waitMessages(t, d, "a message for every dump", func([]string) bool { return len(r.delivered()) == faultDumps })
	time.Sleep(6 * time.Second) // longer than the ack waits: a redelivery would post again now
	got := r.delivered()
	dups := 0
	for _, n := range r.names {
		switch c := got[n]; {
		case c == 0:
			t.Errorf("%s: lost, no message", n)
		case c > 2:
			t.Errorf("%s: %d messages, want 1 (or 2 after a notifier kill mid-post)", n, c)
			dups += c - 1
		case c == 2:
			dups++
			t.Logf("%s: posted twice (a notifier was killed mid-post)", n)
		}
	}
	if dups > maxRepeats {
		t.Errorf("%d repeated messages, but only %d notifier kills could explain them", dups, maxRepeats)
	}
	if other := len(r.chat.messages()) - faultDumps - dups; other != 0 {
		t.Errorf("%d messages that are not one verdict per dump", other)
	}
	for _, p := range r.roles {
		p.stop(30 * time.Second)
	}
	r.nats.stop(30 * time.Second)
	checkCopies(t, r.fleet)
	if _, temps := shareFiles(t, r.fleet.shareDir); len(temps) > 0 {
		t.Logf("%d temporary files of interrupted copies left for the stale-file cleanup: %v", len(temps), temps)
	}
}

// TestFaultKillRoles SIGKILLs the roles at random moments while 100 dumps flow, restarting
// each after a pause: no dump is lost, and every dump ends in exactly one chat message unless a
// notifier kill landed mid-post (see settle).
func TestFaultKillRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test takes about a minute")
	}
	r := newFaultRig(t, "e2e-kill")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r.start(ctx)
	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	order := []string{"fetcher", "analyzer", "notifier"}
	kills := map[string]int{}
	// Kill while work is left, every role at least twice.
	for i := 0; ; i++ {
		time.Sleep(time.Duration(300+rnd.IntN(1200)) * time.Millisecond)
		left := faultDumps - len(r.delivered())
		if left < 10 && i >= 6 || ctx.Err() != nil {
			break
		}
		role := order[i%3]
		if i >= 6 {
			role = order[rnd.IntN(3)]
		}
		p := r.roles[role]
		p.kill()
		kills[role]++
		time.Sleep(time.Duration(rnd.IntN(800)) * time.Millisecond)
		p.start(t)
	}
	t.Logf("kills: %v; %d of %d dumps delivered when the chaos stopped", kills, len(r.delivered()), faultDumps)
	r.settle(150*time.Second, kills["notifier"])
}

// TestFaultNATSRestart kills the NATS server process in the middle of the batch and starts it
// again on the same port and store: the roles reconnect and nothing is lost or doubled.
func TestFaultNATSRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test takes about a minute")
	}
	r := newFaultRig(t, "e2e-nats")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r.start(ctx)
	r.chat.waitMessages(t, 90*time.Second, "a quarter of the batch", func([]string) bool { return len(r.delivered()) >= faultDumps/4 })
	before := len(r.delivered())
	r.nats.kill()
	time.Sleep(2 * time.Second)
	r.nats.start(t)
	waitTCP(ctx, t, r.url)
	t.Logf("NATS killed and restarted after %d of %d dumps", before, faultDumps)
	if before == faultDumps {
		t.Fatal("the whole batch was done before the restart: the test proved nothing")
	}
	r.settle(150*time.Second, 0)
	for role, p := range r.roles {
		if !strings.Contains(p.log(), "nats reconnected") {
			t.Errorf("%s did not log a reconnect", role)
		}
	}
}
