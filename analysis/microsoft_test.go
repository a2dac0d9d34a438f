package analysis

import "testing"

func TestCulpritAndMicrosoft(t *testing.T) {
	tests := []struct {
		name string
		a    Analysis
		want string
	}{
		{"third party first", Analysis{ThirdPartyModule: "SYMEVENT", ModuleName: "nt"}, "SYMEVENT"},
		{"a third-party MODULE_NAME is the debugger's verdict", Analysis{ThirdPartyModule: "adatumwifi", ModuleName: "contoso_vpn"}, "contoso_vpn"},
		{"module name", Analysis{ModuleName: "NETIO", ImageName: "NETIO.SYS"}, "NETIO"},
		{"placeholder skipped", Analysis{ModuleName: "Unknown_Module", ImageName: "Unknown_Image"}, ""},
		{"blamed last", Analysis{ModuleName: "Unknown_Module", BlamedModule: "contoso.sys", BlamedBy: BlamedByWhoCrashed}, "contoso.sys"},
		{"blamed after the analysis' own name", Analysis{ModuleName: "NETIO", BlamedModule: "contoso.sys"}, "NETIO"},
		{"blamed after a third-party frame", Analysis{ThirdPartyModule: "adatum", BlamedModule: "contoso.sys"}, "adatum"},
		{"a suspect before a Windows MODULE_NAME", Analysis{ModuleName: "NETIO", Suspect: "contosofw"}, "contosofw"},
		{"a third-party frame before the suspect", Analysis{ModuleName: "NETIO", ThirdPartyModule: "adatum", Suspect: "contosofw"}, "adatum"},
		{"the top frame below the kernel when nothing is named", Analysis{Stack: []Frame{{Module: "nt"}, {Module: "hal"}, {Module: "PROCMON24"}, {Module: "FLTMGR"}}}, "PROCMON24"},
		{"kernel frames alone name nothing", Analysis{Stack: []Frame{{Module: "nt"}, {Module: "nt"}}}, ""},
		{"the analysis' module before the top frame", Analysis{ModuleName: "NETIO", Stack: []Frame{{Module: "tcpip"}}}, "NETIO"},
	}
	for _, tt := range tests {
		if got := tt.a.CulpritName(); got != tt.want {
			t.Errorf("%s: Culprit() = %q, want %q", tt.name, got, tt.want)
		}
		if got, want := tt.a.CulpritIsBlamed(), tt.want != "" && tt.want == tt.a.BlamedModule; got != want {
			t.Errorf("%s: CulpritIsBlamed() = %v, want %v", tt.name, got, want)
		}
		if got, want := tt.a.CulpritIsTopFrame(), tt.want == "PROCMON24"; got != want {
			t.Errorf("%s: CulpritIsTopFrame() = %v, want %v", tt.name, got, want)
		}
	}
	for _, by := range []string{BlamedByFaultingIP, BlamedByFaultingModule, BlamedByWhoCrashed, BlamedByBlueScreenView, BlamedByStopScreen, BlamedByUnloadableImage, BlamedByExceptionAddress, BlamedByBucket, BlamedByMentioned, BlamedByMentionedWindows, BlamedByStackExcerpt, BlamedByExamined} {
		if BlamedByText(by) == "" {
			t.Errorf("BlamedByText(%q) is empty", by)
		}
	}
	a := &Analysis{Modules: []Module{{Name: "clr", CompanyName: "Microsoft Corporation"}, {Name: "ntdll", CompanyName: "Evil Corp"}}}
	for name, want := range map[string]bool{"NETIO.SYS": true, "ntkrnlmp.exe": true, "SYMEVENT": false, "clr": true, "ntdll": false, "vsdatant": false,
		"dump_storahci.sys": true, "dump_iaStorAC.sys": false, "MpKsl3d4b5a7e.sys": true, "MpKslnothex.sys": false, "SerCx2.sys": true} {
		if got := a.IsMicrosoft(name); got != want {
			t.Errorf("IsMicrosoft(%q) = %v, want %v", name, got, want)
		}
	}
}
