package analysis

import "testing"

func TestCulpritAndMicrosoft(t *testing.T) {
	tests := []struct {
		name string
		a    Analysis
		want string
	}{
		{"third party first", Analysis{ThirdPartyModule: "SYMEVENT", ModuleName: "nt"}, "SYMEVENT"},
		{"module name", Analysis{ModuleName: "NETIO", ImageName: "NETIO.SYS"}, "NETIO"},
		{"placeholder skipped", Analysis{ModuleName: "Unknown_Module", ImageName: "Unknown_Image"}, ""},
	}
	for _, tt := range tests {
		if got := tt.a.CulpritName(); got != tt.want {
			t.Errorf("%s: Culprit() = %q, want %q", tt.name, got, tt.want)
		}
	}
	a := &Analysis{Modules: []Module{{Name: "clr", CompanyName: "Microsoft Corporation"}, {Name: "ntdll", CompanyName: "Evil Corp"}}}
	for name, want := range map[string]bool{"NETIO.SYS": true, "ntkrnlmp.exe": true, "SYMEVENT": false, "clr": true, "ntdll": false, "vsdatant": false} {
		if got := a.IsMicrosoft(name); got != want {
			t.Errorf("IsMicrosoft(%q) = %v, want %v", name, got, want)
		}
	}
}
