package intake_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/analyzer/native"
	"github.com/bsodwatch/bsodwatch/dumpfile/dumpfiletest"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

func open(t *testing.T, rel string) (*os.File, int64) { return sharedtest.Open(t, "dumps", rel) }

func TestHeader(t *testing.T) {
	f, size := open(t, "kernel/triage-x64-win10-19041-bc1000007e.dmp")
	h := intake.Header(f, size)
	if h.Error != "" || h.Format != "PAGEDU64" || h.DumpType != "triage" || h.Arch != "x64" || h.Build != 19041 ||
		h.BugcheckCode != "0x1000007e" || h.BugcheckName != "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M" ||
		strings.Join(h.Args, " ") != "0xffffffffc0000005 0xfffff8048b58334c 0xffff850429891ee8 0xffff850429891720" ||
		h.SystemTime.Format("2006-01-02T15:04:05") != "2021-02-21T01:38:22" {
		t.Errorf("header = %+v", h)
	}
}

func TestHeaderErrors(t *testing.T) {
	cut := dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 5, BugcheckCode: 0x50,
		Params: [4]uint64{0xffffd00000000000, 0, 0xfffff80000001000, 2}, BitmapSig: "SDMP", FirstPage: 0x3000, Pages: 100, BitmapBits: 128}
	data := cut.Bytes()
	tests := []struct {
		name     string
		data     []byte
		code     string
		errorHas string
	}{
		{"truncated MEMORY.DMP keeps its bugcheck", data, "0x50", "truncated"},
		{"text", []byte("01-25 09:00:00.000 not a dump at all"), "", "not a Windows crash dump"},
		{"cab", []byte("MSCF\x00\x00\x00\x00"), "", "extract it first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := intake.Header(bytes.NewReader(tt.data), int64(len(tt.data)))
			if h.BugcheckCode != tt.code || !strings.Contains(h.Error, tt.errorHas) {
				t.Errorf("header = %+v", h)
			}
			if _, _, err := native.Analyze(bytes.NewReader(tt.data), int64(len(tt.data))); err == nil {
				t.Error("Analyze accepted a bad dump")
			}
		})
	}
}

// panicReader makes the dump reader fail in a way no file should: the header must say so.
type panicReader struct{}

func (panicReader) ReadAt([]byte, int64) (int, error) { panic("disk on fire") }

func TestHeaderRecoversFromAPanic(t *testing.T) {
	h := intake.Header(panicReader{}, 1<<20)
	if h == nil || h.Error != "header reader failed: disk on fire" {
		t.Errorf("header = %+v", h)
	}
}

func TestJobIdentity(t *testing.T) {
	const sum = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
	a := intake.NewJob(intake.Dump{Host: "WEB01", SHA256: sum, SharePath: "WEB01/x.dmp", Submitter: "fetcher"}, time.Now())
	again := intake.NewJob(intake.Dump{Host: "web01", SHA256: strings.ToLower(sum), SharePath: "web01/x.dmp"}, time.Now())
	other := intake.NewJob(intake.Dump{Host: "web02", SHA256: sum}, time.Now())
	if a.ID != again.ID {
		t.Errorf("the same dump from the same host got two IDs: %s, %s", a.ID, again.ID)
	}
	if a.ID == other.ID {
		t.Errorf("the same bytes from two hosts got one ID %s: one crash would be lost", a.ID)
	}
	if a.SHA256 != strings.ToLower(sum) || len(a.ID) != 64 || a.Header == nil || a.Header.Error != "no header" {
		t.Errorf("job = %+v", a)
	}
}
