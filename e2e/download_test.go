package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// The console of a `run` whose dump share is an SMB share serves a verdict's dump to a
// signed-in user, byte for byte, and refuses it to anyone else.
func TestConsoleDownloadsFromSMBShare(t *testing.T) {
	smb := needSMB(t)
	dumps := sharedtest.Dir(t, "dumps")
	f := newFleet(t, smb, "dl")
	content, err := os.ReadFile(filepath.Join(dumps, "kernel", "triage-x64-win10-19041-bc1000007e.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	f.addDump(t, "dl-pc01", "120126-7000-01.dmp", content)
	sum := sha256.Sum256(content)
	work := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	webCfg := filepath.Join(work, "web.yml")
	os.WriteFile(webCfg, []byte("basic_auth_users:\n  alice: "+string(hash)+"\n"), 0o600)
	chat := newChatSink(t, 0)
	cfg := pipelineConfig{
		dataDir: filepath.Join(work, "data"), inventory: f.inventory(t, work),
		engine: "native", shareSMBDir: f.id, shareLocal: f.shareDir, smb: smb,
		metricsListen: "127.0.0.1:0", webConfig: webCfg,
	}.write(t, work)
	p := newProc(t, "run", []string{"E2E_CHAT_URL=" + chat.srv.URL}, "run", "--config", cfg)
	p.start(t)
	consoleRE := regexp.MustCompile(`console\s+(http://127\.0\.0\.1:\d+)/`)
	waitLog(t, p, consoleRE, 1, 60*time.Second)
	base := consoleRE.FindStringSubmatch(p.log())[1]
	get := func(path string, auth bool) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if auth {
			req.SetBasicAuth("alice", "s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	var id string
	for deadline := time.Now().Add(90 * time.Second); id == ""; time.Sleep(300 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no verdict in the console within 90s")
		}
		_, b := get("/api/v1/verdicts", true)
		var l struct{ Verdicts []pipeline.Result }
		json.Unmarshal(b, &l)
		for _, r := range l.Verdicts {
			if r.Job.Host == "dl-pc01" {
				id = r.Job.ID
			}
		}
	}
	if resp, _ := get("/verdicts/"+id+"/dump", false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("download without a user: %s, want 401", resp.Status)
	}
	resp, body := get("/verdicts/"+id+"/dump", true)
	got := sha256.Sum256(body)
	if resp.StatusCode != http.StatusOK || hex.EncodeToString(got[:]) != hex.EncodeToString(sum[:]) {
		t.Fatalf("download: %s, %d bytes, sha256 %x; want 200 and the dump (%d bytes, %x):\n%.300s", resp.Status, len(body), got, len(content), sum, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !regexp.MustCompile(`dl-pc01-.*120126-7000-01\.dmp`).MatchString(cd) {
		t.Errorf("Content-Disposition %q does not name the host and dump", cd)
	}
	p.stop(60 * time.Second)
}
