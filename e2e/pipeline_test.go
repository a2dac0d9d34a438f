package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// microsoftModules are never "the culprit" a person would name.
var microsoftModules = map[string]bool{"nt": true, "ntoskrnl": true, "hal": true, "win32k": true, "ntkrnlmp": true}

// replayDump is a dump file for the replay debugger: it prints the transcript when cdb is
// run on it. The note makes every dump's content, and so its sha256 job ID, distinct.
func replayDump(transcript, note string) []byte {
	return []byte(fmt.Sprintf("REPLAYCDB\nmode: transcript\ntranscript: %s\n# %s\n", transcript, note))
}

// messageFor returns the messages that name the dump file.
func messagesFor(ms []string, file string) []string {
	var out []string
	for _, m := range ms {
		if strings.Contains(m, file) {
			out = append(out, m)
		}
	}
	return out
}

// TestPipelineReplayDebugger: Samba hosts -> fetcher -> NATS -> analyzer running the replay
// debugger on real transcripts -> notifier -> Slack endpoint. Each message must name the
// culprit the transcript's label gives and the known issue that the shipped rules give.
func TestPipelineReplayDebugger(t *testing.T) {
	smb := needSMB(t)
	var picked []transcript
	for _, tr := range pickTranscripts(t, 20) {
		if !microsoftModules[strings.ToLower(tr.module)] && len(picked) < 4 {
			picked = append(picked, tr)
		}
	}
	f := newFleet(t, smb, "e2e-replay")
	files := map[string]transcript{}
	for i, tr := range picked {
		name := fmt.Sprintf("1125%02d-%d-01.dmp", i, 4000+i)
		f.addDump(t, fmt.Sprintf("replay-pc%d", i), name, replayDump(tr.path, f.id+name))
		files[name] = tr
	}
	chat := newChatSink(t, 0)
	work := t.TempDir()
	cfg := pipelineConfig{
		dataDir: filepath.Join(work, "data"), inventory: f.inventory(t, work),
		engine: "cdb", cdbPath: bin.replaycdb, shareSMBDir: f.id, shareLocal: f.shareDir, smb: smb,
	}.write(t, work)
	p := newProc(t, "run", []string{"E2E_CHAT_URL=" + chat.srv.URL}, "run", "--config", cfg)
	p.start(t)

	ms := chat.waitMessages(t, 120*time.Second, "one message per dump", func(ms []string) bool {
		for name := range files {
			if len(messagesFor(ms, name)) == 0 {
				return false
			}
		}
		return true
	})
	for name, tr := range files {
		got := messagesFor(ms, name)
		if len(got) != 1 {
			t.Errorf("%s: %d messages, want 1", name, len(got))
			continue
		}
		m := got[0]
		if !strings.Contains(m, "Known issue:") || !strings.Contains(m, htmlEscape(tr.title)) {
			t.Errorf("%s (%s): message does not name the known issue %q:\n%s", name, filepath.Base(tr.path), tr.title, m)
		}
		if !regexp.MustCompile(`(?i)culprit:\*? ` + "`?" + regexp.QuoteMeta(tr.module)).MatchString(m) {
			t.Errorf("%s (%s): message does not name the culprit %s:\n%s", name, filepath.Base(tr.path), tr.module, m)
		}
	}
	p.stop(60 * time.Second)
	checkCopies(t, f)
}

// TestRunStopsOnInterrupt: asked to stop as an operator does (SIGTERM; Ctrl-Break on
// Windows), `run` shuts down cleanly with exit code 130.
func TestRunStopsOnInterrupt(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := newProc(t, "run", nil, "run", "--roles", "none", "--data", filepath.Join(t.TempDir(), "data"), "--nats.listen", addr, "--metrics", "")
	p.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitTCP(ctx, t, addr)
	if code := p.stop(60 * time.Second); code != 130 {
		t.Fatalf("exit code %d after the stop request (%v), want 130", code, p.stopErr)
	}
}

// TestPipelineNativeEngine runs the real kernel dumps of ../shared/dumps through the pipeline
// with the native engine; the message must name the bug check and the faulting driver that
// expected.json (checked by hand against the dump) gives.
func TestPipelineNativeEngine(t *testing.T) {
	smb := needSMB(t)
	dumps := sharedtest.Dir(t, "dumps")
	var exp struct {
		Files map[string]struct {
			BugcheckCode string `json:"bugcheck_code"`
			Heuristics   *struct {
				ContextPC         string `json:"context_pc"`
				StackFirstNonCore string `json:"stack_first_noncore"`
			} `json:"heuristics"`
		} `json:"files"`
	}
	b, err := os.ReadFile(filepath.Join(dumps, "expected", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, smb, "e2e-native")
	type want struct{ code, culprit string }
	wants := map[string]want{}
	i := 0
	for rel, e := range exp.Files {
		if !strings.HasPrefix(rel, "kernel/") || e.BugcheckCode == "" || e.BugcheckCode == "0x0" {
			continue
		}
		// Messages name the code as the verdict does: without the 0x10000000 "_M" flag.
		code, err := strconv.ParseUint(strings.TrimPrefix(e.BugcheckCode, "0x"), 16, 32)
		if err != nil {
			t.Fatalf("%s: bug check %q: %v", rel, e.BugcheckCode, err)
		}
		w := want{code: fmt.Sprintf("0x%x", code&^0x10000000)}
		// The culprit is certain when the faulting instruction and the first driver on the
		// stack agree.
		if h := e.Heuristics; h != nil && h.ContextPC != "" && h.ContextPC == h.StackFirstNonCore {
			w.culprit, _, _ = strings.Cut(h.ContextPC, "+")
			w.culprit = strings.TrimSuffix(w.culprit, filepath.Ext(w.culprit)) // amdppm.sys: amdppm
		}
		content, err := os.ReadFile(filepath.Join(dumps, rel))
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("1125%02d-%d-01.dmp", i, 5000+i)
		f.addDump(t, fmt.Sprintf("native-pc%d", i), name, content)
		wants[name] = w
		i++
	}
	if len(wants) == 0 {
		t.Fatal("no kernel dump with a bug check in expected.json")
	}
	chat := newChatSink(t, 0)
	work := t.TempDir()
	cfg := pipelineConfig{
		dataDir: filepath.Join(work, "data"), inventory: f.inventory(t, work),
		engine: "native", shareSMBDir: f.id, shareLocal: f.shareDir, smb: smb,
	}.write(t, work)
	p := newProc(t, "run", []string{"E2E_CHAT_URL=" + chat.srv.URL}, "run", "--config", cfg)
	p.start(t)
	ms := chat.waitMessages(t, 120*time.Second, "one message per dump", func(ms []string) bool {
		for name := range wants {
			if len(messagesFor(ms, name)) == 0 {
				return false
			}
		}
		return true
	})
	culprits := 0
	for name, w := range wants {
		got := messagesFor(ms, name)
		if len(got) != 1 {
			t.Errorf("%s: %d messages, want 1", name, len(got))
			continue
		}
		if !strings.Contains(got[0], "("+w.code+")") && !strings.Contains(got[0], "bugcheck "+w.code) {
			t.Errorf("%s: message does not name bug check %s:\n%s", name, w.code, got[0])
		}
		if w.culprit != "" {
			culprits++
			if !strings.Contains(strings.ToLower(got[0]), strings.ToLower(w.culprit)) {
				t.Errorf("%s: message does not name the culprit %s:\n%s", name, w.culprit, got[0])
			}
		}
	}
	if culprits == 0 {
		t.Error("no dump with a certain culprit was checked")
	}
	p.stop(60 * time.Second)
	checkCopies(t, f)
}

// checkCopies compares every copy on the share with its source, byte for byte by sha256.
func checkCopies(t *testing.T, f *fleet) {
	t.Helper()
	copies, _ := shareFiles(t, f.shareDir)
	sources := map[string]string{}
	filepath.WalkDir(f.adminDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), ".dmp") {
			sources[d.Name()] = sha256File(t, p)
		}
		return nil
	})
	for rel, sum := range copies {
		base := filepath.Base(rel)
		var src string
		for name, s := range sources {
			if strings.HasSuffix(base, "-"+name) {
				src = s
			}
		}
		if src == "" {
			t.Errorf("copy %s has no source", rel)
		} else if src != sum {
			t.Errorf("copy %s is corrupt: sha256 %s, source %s", rel, sum, src)
		}
	}
	if len(copies) < len(sources) {
		t.Errorf("%d copies for %d dumps", len(copies), len(sources))
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
