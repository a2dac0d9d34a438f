package winsvc

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewPlan(t *testing.T) {
	args := []string{"analyze", "service", "run", "--share", `\\fs01\dumps`, "--service.name", "bw"}
	p := NewPlan("bw", `C:\Program Files\bsodwatch\bsodwatch.exe`, args)
	want := Plan{
		Name:               "bw",
		DisplayName:        "bsodwatch analyzer",
		Description:        "Analyzes queued Windows crash dumps with cdb and publishes verdicts.",
		Exe:                `C:\Program Files\bsodwatch\bsodwatch.exe`,
		Args:               []string{"analyze", "service", "run", "--share", `\\fs01\dumps`, "--service.name", "bw"},
		DelayedAutoStart:   true,
		Restarts:           []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute},
		ResetPeriod:        24 * time.Hour,
		RecoveryOnExitCode: true,
		EventSource:        "bw",
	}
	if d := cmp.Diff(want, p); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
	args[4] = "changed"
	if p.Args[4] != `\\fs01\dumps` {
		t.Error("the plan shares its argument slice with the caller")
	}
}
