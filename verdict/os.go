package verdict

import (
	"strconv"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// release names a Windows build: the client release and, where one shipped on the same
// build, the server release. From Microsoft's release information pages (Windows 10 and 11
// release health, Windows Server release information).
type release struct{ client, server string }

var releases = map[int]release{
	2600:  {"Windows XP", ""},
	3790:  {"Windows XP x64", "Windows Server 2003"},
	6000:  {"Windows Vista", ""},
	6001:  {"Windows Vista SP1", "Windows Server 2008"},
	6002:  {"Windows Vista SP2", "Windows Server 2008 SP2"},
	7600:  {"Windows 7", "Windows Server 2008 R2"},
	7601:  {"Windows 7 SP1", "Windows Server 2008 R2 SP1"},
	9200:  {"Windows 8", "Windows Server 2012"},
	9600:  {"Windows 8.1", "Windows Server 2012 R2"},
	10240: {"Windows 10 1507", ""},
	10586: {"Windows 10 1511", ""},
	14393: {"Windows 10 1607", "Windows Server 2016"},
	15063: {"Windows 10 1703", ""},
	16299: {"Windows 10 1709", "Windows Server 1709"},
	17134: {"Windows 10 1803", "Windows Server 1803"},
	17763: {"Windows 10 1809", "Windows Server 2019"},
	18362: {"Windows 10 1903", "Windows Server 1903"},
	18363: {"Windows 10 1909", "Windows Server 1909"},
	19041: {"Windows 10 2004", "Windows Server 2004"},
	19042: {"Windows 10 20H2", "Windows Server 20H2"},
	19043: {"Windows 10 21H1", ""},
	19044: {"Windows 10 21H2", ""},
	19045: {"Windows 10 22H2", ""},
	20348: {"", "Windows Server 2022"},
	22000: {"Windows 11 21H2", ""},
	22621: {"Windows 11 22H2", ""},
	22631: {"Windows 11 23H2", ""},
	25398: {"", "Windows Server 23H2"},
	26100: {"Windows 11 24H2", "Windows Server 2025"},
	26200: {"Windows 11 25H2", ""},
}

// ProductName names a Windows build for people ("Windows 10 2004", "Windows Server 2022"),
// preferring the server or client name when the dump says which edition ran; "" for a build
// it does not know.
func ProductName(build int, server, workstation bool) string {
	r, ok := releases[build]
	if !ok {
		return ""
	}
	switch {
	case server && r.server != "":
		return r.server
	case workstation && r.client != "":
		return r.client
	case r.client != "" && r.server != "" && !server && !workstation:
		return r.client + " / " + r.server
	case r.client != "":
		return r.client
	}
	return r.server
}

func osOf(h pipeline.Header, a *analysis.Analysis, ev *analysis.CrashEvent) *analysis.OS {
	o := &analysis.OS{Build: h.Build, Arch: h.Arch}
	if o.Build == 0 {
		o.Build = a.OSBuild
	}
	if o.Build == 0 && ev != nil {
		o.Build = BuildOf(ev.OSVersion)
	}
	if o.Arch == "" {
		o.Arch = a.Arch
	}
	server, workstation := h.Server, h.Workstation
	if s := a.Session; s != nil && !server && !workstation {
		// cdb: "Product: WinNt, suite: ..." (a client), LanManNt (a domain controller), ServerNt.
		p := strings.ToLower(s.Product)
		server = strings.Contains(p, "lanmannt") || strings.Contains(p, "servernt")
		workstation = strings.HasPrefix(p, "winnt")
	}
	o.Product = ProductName(o.Build, server, workstation)
	if o.Build == 3790 && o.Arch == "x86" {
		o.Product = "Windows Server 2003" // XP x64 shared the build, never on x86
	}
	if o.Build == 0 && o.Arch == "" {
		return nil
	}
	return o
}

// BuildOf is the build number of a Windows version as the event log gives it
// ("10.0.19045.4291", "6.1.7601.17727": the third part); 0 when there is none.
func BuildOf(version string) int {
	parts := strings.Split(version, ".")
	if len(parts) < 3 {
		return 0
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
