package drivers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer/cdbout"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

func TestTable(t *testing.T) {
	third := 0
	used := map[string]int{}
	for _, e := range Entries() {
		if e.Vendor != "Microsoft" {
			third++
		}
		used[e.Kind]++
		if !strings.HasSuffix(e.File, ".sys") && !strings.HasSuffix(e.File, ".r0") {
			t.Errorf("%s: not a .sys (or VirtualBox .r0) file name", e.File)
		}
		if e.File != strings.ToLower(e.File) {
			t.Errorf("%s: file names are stored lower-case", e.File)
		}
	}
	if third < 300 {
		t.Errorf("table has %d third-party drivers, want at least 300", third)
	}
	for _, k := range Kinds {
		if used[k.Name] == 0 {
			t.Errorf("kind %q is documented but no driver has it", k.Name)
		}
	}
	t.Logf("%d third-party drivers, %d kinds", third, len(used))
}

func TestParseTableErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.sys\tV\tP\tnetwork\n", "drivers.tsv:1: want 5 tab-separated fields, have 4"},
		{"# c\na.sys\tV\tP\tnetwork\t\n", "drivers.tsv:2: field 5 is empty"},
		{"a.sys\tV\tP\tnetworking\tD\n", `drivers.tsv:1: unknown kind "networking"`},
		{"a.sys\tV\tP\tnetwork\tD\nA.SYS\tV\tP\tnetwork\tD\n", "drivers.tsv:2: a.sys listed twice"},
	} {
		_, err := parseTable([]byte(tc.in), "drivers.tsv")
		if err == nil || err.Error() != tc.want {
			t.Errorf("parseTable(%q) = %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"rt640x64", "RT640X64.SYS", `\SystemRoot\System32\drivers\rt640x64.sys`} {
		e, ok := Lookup(name)
		if !ok || e.Vendor != "Realtek" || e.Kind != "network" {
			t.Errorf("Lookup(%q) = %+v, %v", name, e, ok)
		}
	}
	if _, ok := Lookup("nosuchdriver.sys"); ok {
		t.Error("Lookup found a driver that is not in the table")
	}
	// A version in the file name: the release's file is the table's driver.
	for _, name := range []string{"portmaster-kext_v1-0-10.sys", "portmaster_kext_v1.0.15.sys", "PORTMASTER_KEXT_V2"} {
		if e, ok := Lookup(name); !ok || e.File != "portmaster-kext.sys" {
			t.Errorf("Lookup(%q) = %+v, %v, want portmaster-kext.sys", name, e, ok)
		}
	}
	for _, name := range []string{"portmaster-kext_v.sys", "portmaster-kext_vx1.sys", "portmaster-kext_v1a.sys", "_v1.sys", "nosuch_v1.sys"} {
		if e, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) = %+v, want no driver", name, e)
		}
	}
	// The debugger names the module of "mullvad-wireguard.sys" "mullvad_wireguard".
	for _, name := range []string{"mullvad_wireguard", "Mullvad-WireGuard.sys"} {
		if e, ok := Lookup(name); !ok || e.File != "mullvad-wireguard.sys" {
			t.Errorf("Lookup(%q) = %+v, %v", name, e, ok)
		}
	}
}

func TestIdentify(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    analysis.Analysis
		want *analysis.Culprit
		line string
	}{
		{"table, module name only",
			analysis.Analysis{ModuleName: "rt640x64"},
			&analysis.Culprit{Module: "rt640x64.sys", Vendor: "Realtek", Product: "Realtek PCIe GbE Family Controller", Kind: "network", Description: "Realtek PCIe GbE network driver", Source: "reference"},
			"rt640x64.sys — Realtek PCIe GbE network driver"},
		{"table, image name kept as printed",
			analysis.Analysis{ModuleName: "csagent", ImageName: "csagent.sys"},
			&analysis.Culprit{Module: "csagent.sys", Vendor: "CrowdStrike", Product: "CrowdStrike Falcon sensor", Kind: "edr", Description: "CrowdStrike Falcon sensor driver", Source: "reference"},
			"csagent.sys — CrowdStrike Falcon sensor driver"},
		{"version resource wins, kind kept when vendors agree",
			analysis.Analysis{ModuleName: "SYMEVENT", ImageName: "SYMEVENT.SYS", Modules: []analysis.Module{{Name: "SYMEVENT", ImageName: "SYMEVENT.SYS", CompanyName: "Symantec Corporation", ProductName: "SymEvent Driver", FileDescription: "Symantec Event Library"}}},
			&analysis.Culprit{Module: "SYMEVENT.SYS", Vendor: "Symantec Corporation", Product: "SymEvent Driver", Kind: "antivirus-filter", Description: "Symantec Event Library", Source: "module"},
			"SYMEVENT.SYS — Symantec Event Library"},
		{"a look-alike file: its own company, no borrowed kind",
			analysis.Analysis{ModuleName: "rt640x64", ImageName: "rt640x64.sys", Modules: []analysis.Module{{Name: "rt640x64", CompanyName: "Acme Drivers Ltd"}}},
			&analysis.Culprit{Module: "rt640x64.sys", Vendor: "Acme Drivers Ltd", Source: "module"},
			"rt640x64.sys — Acme Drivers Ltd"},
		{"AMD's long company name still gets the kind",
			analysis.Analysis{ModuleName: "atikmpag", ImageName: "atikmpag.sys", Modules: []analysis.Module{{Name: "atikmpag", CompanyName: "Advanced Micro Devices, Inc."}}},
			&analysis.Culprit{Module: "atikmpag.sys", Vendor: "Advanced Micro Devices, Inc.", Product: "AMD Radeon display driver", Kind: "display", Description: "AMD display miniport driver", Source: "module"},
			"atikmpag.sys — AMD display miniport driver (Advanced Micro Devices, Inc.)"},
		{"Windows kernel",
			analysis.Analysis{ModuleName: "nt", ImageName: "ntkrnlmp.exe"},
			&analysis.Culprit{Module: "ntkrnlmp.exe", Vendor: "Microsoft", Product: "Windows", Source: "microsoft"},
			"ntkrnlmp.exe — Microsoft Windows"},
		{"Windows driver with a kind",
			analysis.Analysis{ModuleName: "stornvme", ImageName: "stornvme.sys"},
			&analysis.Culprit{Module: "stornvme.sys", Vendor: "Microsoft", Product: "Windows", Kind: "storage", Description: "Windows NVMe driver", Source: "microsoft"},
			"stornvme.sys — Windows NVMe driver (Microsoft)"},
		{"third-party frame wins over the module name",
			analysis.Analysis{ModuleName: "nt", ThirdPartyModule: "vgk"},
			&analysis.Culprit{Module: "vgk.sys", Vendor: "Riot Games", Product: "Riot Vanguard", Kind: "anti-cheat", Description: "Riot Vanguard kernel driver", Source: "reference"},
			"vgk.sys — Riot Vanguard kernel driver"},
		{"unknown module: name only",
			analysis.Analysis{ModuleName: "acmefltr", ImageName: "acmefltr.sys"},
			&analysis.Culprit{Module: "acmefltr.sys"},
			"acmefltr.sys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Identify(&tc.a)
			if got == nil || *got != *tc.want {
				t.Fatalf("Identify = %+v, want %+v", got, tc.want)
			}
			if l := Line(got); l != tc.line {
				t.Errorf("Line = %q, want %q", l, tc.line)
			}
		})
	}
	for _, a := range []analysis.Analysis{{}, {ModuleName: "Unknown_Module", ImageName: "Unknown_Image"}} {
		if c := Identify(&a); c != nil {
			t.Errorf("Identify(%+v) = %+v, want nil", a, c)
		}
	}
	if Identify(nil) != nil {
		t.Error("Identify(nil) != nil")
	}
}

// TestIdentifyCorpus names the culprit of every real kernel transcript in the shared corpus
// and scores how many get a vendor; the seed must come out as Symantec's SYMEVENT.
func TestIdentifyCorpus(t *testing.T) {
	dir := sharedtest.Dir(t, "corpus")
	files, _ := filepath.Glob(filepath.Join(dir, "kernel", "*.txt"))
	files = append(files, filepath.Join(dir, "seed", "seed-analyze.txt"))
	named, withVendor := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := Identify(cdbout.ParseBytes(b))
		if c == nil {
			continue
		}
		named++
		if c.Vendor != "" {
			withVendor++
		}
		if strings.HasSuffix(f, "seed-analyze.txt") && (c.Vendor != "Broadcom (Symantec)" || c.Kind != "antivirus-filter") {
			t.Errorf("seed culprit = %+v, want Symantec's antivirus filter", c)
		}
	}
	t.Logf("corpus: %d transcripts, %d name a culprit, %d of those with a vendor", len(files), named, withVendor)
	if named == 0 || withVendor*2 < named {
		t.Errorf("only %d of %d culprits got a vendor", withVendor, named)
	}
}

func TestProcessTable(t *testing.T) {
	if len(processes) < 50 {
		t.Errorf("process table has %d rows", len(processes))
	}
	for _, e := range processes {
		if !strings.HasSuffix(e.File, ".exe") || e.File != strings.ToLower(e.File) {
			t.Errorf("%s: want a lower-case .exe name", e.File)
		}
		if analysis.IsMicrosoftModule(e.File) || strings.Contains(strings.ToLower(e.Vendor), "microsoft") {
			t.Errorf("%s: Windows' own processes are no suspects", e.File)
		}
	}
}
