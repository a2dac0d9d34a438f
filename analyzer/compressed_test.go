package analyzer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/internal/bytesize"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// TestCompressedDump analyzes a real kernel minidump stored as .zst: it is restored to a
// temporary file (removed afterwards) and gives the same bugcheck as the plain file; a
// damaged .zst fails for good; a temporary directory without room is a retry, not a failure.
func TestCompressedDump(t *testing.T) {
	src, size := sharedtest.Open(t, "dumps", "kernel/triage-x64-win10-19041-bc1000007e.dmp")
	defer src.Close()
	shareDir := t.TempDir()
	share, release, err := dumpshare.Open(context.Background(), dumpshare.Options{Dir: shareDir, Compress: dumpshare.CompressOptions{MinSize: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	rel := share.StoredRel("lab/20210221T013822Z-x.dmp", size)
	sum, err := share.Put(context.Background(), rel, src, size)
	if err != nil || !strings.HasSuffix(rel, ".zst") {
		t.Fatalf("put %s: %v", rel, err)
	}
	tmp := t.TempDir()
	w, err := analyzer.New(analyzer.Options{Engine: analyzer.EngineNative, ShareDir: shareDir, TempDir: tmp}, analyzer.Deps{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	job := &pipeline.Job{Version: pipeline.JobVersion, ID: sum, SHA256: sum, Size: size, SharePath: rel, Host: "lab"}
	r, err := w.Analyze(context.Background(), job)
	if err != nil || r.Analysis == nil || r.Analysis.BugcheckCode != "0x1000007e" {
		t.Fatalf("analysis of the compressed dump: %+v, %v", r, err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("restored file left in the temporary directory: %v", left)
	}

	// damaged: a byte of the stored stream flipped
	p := filepath.Join(shareDir, filepath.FromSlash(rel))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	_, err = w.Analyze(context.Background(), job)
	var je *analyzer.JobError
	if !errors.As(err, &je) || !je.Permanent || !strings.Contains(err.Error(), "changed on the share: stored dump does not match its job") {
		t.Fatalf("damaged .zst: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("restored file left after a failure: %v", left)
	}

	// no room in the temporary directory: transient
	full, err := analyzer.New(analyzer.Options{Engine: analyzer.EngineNative, ShareDir: shareDir, TempDir: tmp, TempMinFree: bytesize.Size(1 << 60)}, analyzer.Deps{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = full.Analyze(context.Background(), job)
	if !errors.As(err, &je) || je.Permanent || !errors.Is(err, dumpshare.ErrNoSpace) {
		t.Fatalf("temporary directory without room: %v", err)
	}
}
