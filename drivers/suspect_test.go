package drivers

import (
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/analysis"
)

func mods(names ...string) []analysis.Module {
	out := make([]analysis.Module, len(names))
	for i, n := range names {
		out[i] = analysis.Module{Name: n}
	}
	return out
}

func TestSuspect(t *testing.T) {
	// Loaded on a typical desktop: network, display and audio drivers that are never a suspect
	// for a crash in the network or file-system stack.
	desktop := []string{"nt", "NETIO", "tcpip", "FLTMGR", "rt640x64", "nvlddmkm", "RTKVHD64"}
	tests := []struct {
		name     string
		a        analysis.Analysis
		want     string
		whyParts []string
	}{
		{"NETIO with one vendor's firewall",
			analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO", ImageName: "NETIO.SYS",
				Modules: mods(append(desktop, "klif", "klwfp", "kneps")...)},
			"klwfp", []string{"suspect, not proven", "firewall", "Kaspersky", "NETIO"}},
		{"NETIO with two vendors' filters", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO",
			Modules: mods(append(desktop, "klwfp", "epfwwfp")...)}, "", nil},
		{"NETIO with only ordinary drivers", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO",
			Modules: mods(desktop...)}, "", nil},
		{"the analysis blames a third party itself", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "rt640x64",
			Modules: mods(append(desktop, "klwfp")...)}, "", nil},
		{"a third-party stack frame", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO", ThirdPartyModule: "epfwwfp",
			Modules: mods(append(desktop, "klwfp")...)}, "", nil},
		{"FLTMGR with one antivirus filter", analysis.Analysis{BugcheckCode: "0x50", ModuleName: "FLTMGR",
			Modules: mods(append(desktop, "SYMEVENT")...)},
			"SYMEVENT", []string{"antivirus", "FLTMGR (Windows' file-system stack)"}},
		{"a placeholder module: the stack's Windows module decides", analysis.Analysis{BugcheckCode: "0x3b",
			ModuleName: "Unknown_Module", Stack: []analysis.Frame{{Module: "nt"}, {Module: "fltmgr"}},
			Modules: mods(append(desktop, "SYMEVENT")...)}, "SYMEVENT", []string{"FLTMGR"}},
		{"ndis with no filter: the one network adapter vendor", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "ndis",
			Modules: mods("nt", "ndis", "rt640x64", "nvlddmkm")}, "rt640x64", []string{"network", "Realtek"}},
		{"the kernel, memory corruption, one antivirus", analysis.Analysis{BugcheckCode: "0x1a", ModuleName: "nt",
			Modules: mods(append(desktop, "SYMEVENT")...)}, "SYMEVENT", []string{"the Windows kernel"}},
		{"the kernel, a hardware error", analysis.Analysis{BugcheckCode: "0x124", ModuleName: "hardware",
			Modules: mods(append(desktop, "SYMEVENT")...)}, "", nil},
		{"the kernel, a watchdog", analysis.Analysis{BugcheckCode: "0x133", ModuleName: "nt",
			Modules: mods(append(desktop, "SYMEVENT")...)}, "", nil},
		{"a driver the table does not know is no suspect", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO",
			Modules: mods(append(desktop, "acmewfp")...)}, "", nil},
		{"a module whose version resource says Microsoft", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO",
			Modules: []analysis.Module{{Name: "klwfp", CompanyName: "Microsoft Corporation"}}}, "", nil},
		{"no module list", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO"}, "", nil},
		{"a power IRP's driver in the failure bucket", analysis.Analysis{BugcheckCode: "0x9f", ModuleName: "pci", ImageName: "pci.sys",
			FailureBucketID: "0x9F_3_POWER_DOWN_nvlddmkm_IMAGE_pci.sys"}, "nvlddmkm", []string{"the failure bucket 0x9F_3_POWER_DOWN_nvlddmkm_IMAGE_pci.sys names it", "Windows' pci"}},
		{"a Windows driver in the failure bucket", analysis.Analysis{BugcheckCode: "0x9f", ModuleName: "pci", ImageName: "pci.sys",
			FailureBucketID: "0x9F_3_usbhub3_IMAGE_pci.sys"}, "", nil},
		{"the bucket of the newer debuggers' key values", analysis.Analysis{BugcheckCode: "0x9f", ModuleName: "pci",
			KeyValues: map[string]string{"Failure.Bucket": "0x9F_3_acme_net_IMAGE_pci.sys"}}, "acme_net", nil},
		{"a driver file the text names", analysis.Analysis{BugcheckCode: "0x3b", ModuleName: "nt",
			MentionedDrivers: []string{"rt640x64.sys", "aswSP.sys"}}, "aswSP.sys", []string{"the only antivirus driver the text names (Avast"}},
		{"a frame of another stack the text prints", analysis.Analysis{BugcheckCode: "0x3b", ModuleName: "nt",
			MentionedDrivers: []string{"aswSP"}}, "aswSP", []string{"on a stack the text prints"}},
		{"a loaded driver before a named one of the same vendor", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO",
			Modules: mods("klwfp"), MentionedDrivers: []string{"kneps.sys"}}, "klwfp", []string{"driver loaded"}},
		{"the process of a security product, no driver list", analysis.Analysis{BugcheckCode: "0x3b", ModuleName: "nt",
			ProcessName: "avp.exe"}, "avp.exe", []string{"the crashing thread is Kaspersky's avp.exe", "the Windows kernel"}},
		{"the process of a product whose kind does not run there", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "dxgkrnl",
			ProcessName: "vmtoolsd.exe"}, "", nil},
		{"in the kernel itself a product's process of any kind", analysis.Analysis{BugcheckCode: "0x50", ProcessName: "AdguardSvc.exe"},
			"AdguardSvc.exe", []string{"AdGuard's AdguardSvc.exe", "the Windows kernel"}},
		{"a loaded driver of another vendor outweighs the process", analysis.Analysis{BugcheckCode: "0x3b", ModuleName: "nt",
			ProcessName: "avp.exe", Modules: mods("aswSP")}, "aswSP", nil},
		{"a Windows process is no suspect", analysis.Analysis{BugcheckCode: "0x3b", ModuleName: "nt", ProcessName: "svchost.exe"}, "", nil},
		{"a named driver of another vendor than the loaded one", analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO",
			Modules: mods("klwfp"), MentionedDrivers: []string{"epfwwfp.sys"}}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.a
			got, why := Suspect(&a)
			if got != tt.want {
				t.Fatalf("Suspect = %q (%s), want %q", got, why, tt.want)
			}
			for _, p := range tt.whyParts {
				if !strings.Contains(why, p) {
					t.Errorf("why %q lacks %q", why, p)
				}
			}
			if got == "" && why != "" {
				t.Errorf("why %q without a suspect", why)
			}
		})
	}
}

func TestAttribute(t *testing.T) {
	a := &analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO", ImageName: "NETIO.SYS",
		Modules: mods("nt", "NETIO", "rt640x64", "klwfp")}
	Attribute(a)
	if a.Suspect != "klwfp" || a.CulpritName() != "klwfp" {
		t.Fatalf("suspect %q, culprit name %q", a.Suspect, a.CulpritName())
	}
	if c := a.Culprit; c == nil || c.Module != "klwfp.sys" || c.Vendor != "Kaspersky" || c.Kind != "firewall" {
		t.Fatalf("culprit %+v", a.Culprit)
	}
	p := &analysis.Analysis{BugcheckCode: "0x50", ModuleName: "nt", ProcessName: "CSFalconService.exe"}
	Attribute(p)
	if c := p.Culprit; c == nil || c.Module != "CSFalconService.exe" || c.Vendor != "CrowdStrike" || c.Kind != "edr" {
		t.Fatalf("process suspect: culprit %+v", p.Culprit)
	}
	// Attributing again gives the same answer: the earlier suspect does not hide the
	// Windows module from Suspect.
	Attribute(a)
	if a.Suspect != "klwfp" {
		t.Fatalf("second Attribute: suspect %q", a.Suspect)
	}
	Attribute(nil) // no panic
}
