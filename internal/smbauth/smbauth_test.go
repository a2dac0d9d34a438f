package smbauth

import "testing"

func TestSplitUser(t *testing.T) {
	tests := []struct{ in, domain, user string }{
		{`CORP\svc-bsod`, "CORP", "svc-bsod"},
		{"svc-bsod@corp.example", "corp.example", "svc-bsod"},
		{"first.last@mail@corp", "corp", "first.last@mail"},
		{"localadmin", "", "localadmin"},
		{`.\localadmin`, ".", "localadmin"},
	}
	for _, tt := range tests {
		d, u := SplitUser(tt.in)
		if d != tt.domain || u != tt.user {
			t.Errorf("SplitUser(%q) = %q, %q; want %q, %q", tt.in, d, u, tt.domain, tt.user)
		}
	}
}
