package drivers

import (
	"slices"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// Attribute names the culprit of a with its vendor and product (a.Culprit), after looking
// for a suspect when the analysis blames only Windows' own code (a.Suspect, see Suspect).
// Every engine's result goes through it once, before rules are matched.
func Attribute(a *analysis.Analysis) {
	if a == nil {
		return
	}
	a.Suspect, a.SuspectWhy = Suspect(a)
	a.Culprit = Identify(a)
}

// Suspect is the third-party driver a person reading the analysis would look at next when
// it blames only Windows' own code (NETIO, FLTMGR, dxgkrnl, nt, or no module at all), in
// order:
//   - a third-party module the failure bucket names before its image
//     ("0x9F_3_nvlddmkm_IMAGE_pci.sys");
//   - the one vendor's driver, among those loaded (the module list) and then those the text
//     names (MentionedDrivers), whose kind runs inside the part of Windows that crashed: a
//     crash in NETIO with one vendor's firewall loaded points at its callout driver, one in
//     FLTMGR with one antivirus or backup filter loaded at that filter. Only drivers the
//     reference table knows count, and two vendors of the same standing mean no suspect;
//   - when no driver of those kinds is known at all, the analysis' process if it is a
//     third-party product's (processes.tsv: avp.exe, CSFalconService.exe, vgc.exe, ...).
//
// It returns the module name as the analysis spells it and the reason in words, starting
// "suspect, not proven", or "".
func Suspect(a *analysis.Analysis) (module, why string) {
	if a == nil {
		return "", ""
	}
	cur := a.OwnCulpritName()
	if cur != "" && !analysis.IsPlaceholderModule(cur) && !a.IsMicrosoft(cur) {
		return "", "" // the analysis already blames a third party
	}
	if m, b := bucketDriver(a); m != "" {
		return m, "suspect, not proven: the failure bucket " + b + " names it while the analysis blames " + blamed(cur)
	}
	sub, where := subsystemOf(a, cur)
	if sub == nil {
		return "", ""
	}
	cs := candidates(a)
	for _, tier := range sub.tiers {
		c, ok := onlyVendor(cs, tier)
		if !ok {
			return "", "" // two vendors of equal standing: no guess
		}
		if c.name == "" {
			continue
		}
		how := "loaded"
		switch {
		case c.named && strings.Contains(c.name, "."):
			how = "the text names"
		case c.named:
			how = "on a stack the text prints"
		}
		return c.name, "suspect, not proven: the only " + kindWords(c.kind) + " driver " + how + " (" + c.vendor +
			") while the crash is in " + where
	}
	// No driver to weigh: the process whose thread crashed, when it is a product's own of a
	// kind that runs there; in the kernel itself (memory corruption), of any kind.
	if e, ok := processes[key(a.ProcessName)]; ok && (sub == kernel || slices.ContainsFunc(sub.tiers, func(t []string) bool { return slices.Contains(t, e.Kind) })) {
		return a.ProcessName, "suspect, not proven: the crashing thread is " + e.Vendor + "'s " + a.ProcessName +
			" (" + e.Product + ") while the crash is in " + where
	}
	return "", ""
}

// bucketDriver is the third-party module a failure bucket names before its image
// ("0x9F_3_nvlddmkm_IMAGE_pci.sys": the driver that held the power IRP, while pci.sys is the
// image blamed), and that bucket; or "".
func bucketDriver(a *analysis.Analysis) (module, bucket string) {
	for _, b := range []string{a.FailureBucketID, a.BucketID, a.KeyValues["Failure.Bucket"]} {
		if m, img := analysis.BucketModules(b); img != "" && m != "" && !analysis.IsMicrosoftModule(m) && !analysis.IsPlaceholderModule(m) {
			return m, b
		}
	}
	return "", ""
}

// blamed says what the analysis blames: "Windows' pci", or no module at all.
func blamed(cur string) string {
	if cur == "" {
		return "no module"
	}
	return "Windows' " + cur
}

// subsystem is a part of Windows and the kinds of third-party driver that run inside it,
// most likely first; each tier is weighed on its own.
type subsystem struct {
	what  string
	tiers [][]string
}

var (
	filterKinds = []string{"firewall", "vpn", "edr", "antivirus-filter", "dlp", "monitoring", "sandbox"}
	netStack    = &subsystem{"Windows' network stack", [][]string{filterKinds}}
	netAdapter  = &subsystem{"Windows' network adapter layer", [][]string{filterKinds, {"network", "wifi", "vpn", "virtualization"}}}
	fileSystem  = &subsystem{"Windows' file-system stack", [][]string{{"antivirus-filter", "edr", "dlp", "backup", "disk-encryption", "filesystem", "sandbox", "virtual-drive", "monitoring"}}}
	storage     = &subsystem{"Windows' storage stack", [][]string{{"backup", "disk-encryption", "virtual-drive"}, {"storage", "raid"}}}
	graphics    = &subsystem{"Windows' graphics kernel", [][]string{{"display"}}}
	usb         = &subsystem{"Windows' USB and input stack", [][]string{{"usb", "input", "serial", "card-reader", "camera"}}}
	sound       = &subsystem{"Windows' audio stack", [][]string{{"audio"}}}
	bluetooth   = &subsystem{"Windows' Bluetooth stack", [][]string{{"bluetooth"}}}
	kernel      = &subsystem{"the Windows kernel", [][]string{{"antivirus-filter", "edr", "anti-cheat", "hardware-tool"}}}
)

// subsystems maps a Windows module (moduleKey form) to the part of Windows it is.
var subsystems = map[string]*subsystem{}

func init() {
	for sub, names := range map[*subsystem]string{
		netStack: "netio tcpip tcpip6 fwpkclnt afd afunix tdx tdi http netbt wfplwfs wanarp nsiproxy ws2ifsl " +
			"mrxsmb mrxsmb10 mrxsmb20 rdbss srv srv2 srvnet mup tunnel msquic winnat bridge",
		netAdapter: "ndis pacer ndiswan ndiscap netadaptercx nwifi vwififlt vwifibus wdiwifi wificx vmswitch netvsc",
		fileSystem: "fltmgr ntfs refs fastfat exfat fileinfo wof cldflt luafv wcifs bindflt cdfs udfs csc dfsc npfs " +
			"msfs filecrypt prjflt csvfs",
		storage: "storport stornvme storahci classpnp disk partmgr volmgr volmgrx volsnap ataport atapi pciidex " +
			"scsiport spaceport fvevol mountmgr volume iorate storqosflt vhdmp msdsm mpio",
		graphics:  "dxgkrnl dxgmms1 dxgmms2 watchdog cdd basicdisplay basicrender videoprt monitor",
		usb:       "usbport usbhub usbhub3 usbxhci ucx01000 usbccgp usbstor uaspstor hidclass hidusb hidparse kbdclass mouclass kbdhid mouhid winusb usbehci wudfrd",
		sound:     "portcls hdaudbus hdaudio ks ksthunk drmk usbaudio usbaudio2 sysaudio",
		bluetooth: "bthport bthusb rfcomm bthenum bthmini",
	} {
		for _, n := range strings.Fields(names) {
			subsystems[n] = sub
		}
	}
}

// kernelSuspectCodes are the bug checks of memory corruption and bad kernel accesses, where
// a crash in the kernel itself is so often a driver's doing that the one security, anti-cheat
// or hardware-access driver loaded is worth naming. Hardware errors, watchdogs, critical
// process deaths and manual crashes are not among them.
var kernelSuspectCodes = map[string]bool{
	"0xa": true, "0x19": true, "0x1a": true, "0x1e": true, "0x3b": true, "0x50": true,
	"0x7e": true, "0x8e": true, "0xc2": true, "0xc5": true, "0xd1": true, "0x139": true,
	"0x1000007e": true, "0x1000008e": true,
}

// subsystemOf is the part of Windows the crash is in: the culprit's, else the first stack
// frame in a known part, else the kernel for the bug checks of kernelSuspectCodes.
func subsystemOf(a *analysis.Analysis, cur string) (*subsystem, string) {
	if s := subsystems[key(cur)]; s != nil {
		return s, strings.ToUpper(cur) + " (" + s.what + ")"
	}
	for _, f := range a.Stack {
		if s := subsystems[key(f.Module)]; s != nil {
			return s, f.Module + " (" + s.what + ")"
		}
	}
	if cur == "" || analysis.IsPlaceholderModule(cur) || analysis.IsKernelModule(cur) {
		if kernelSuspectCodes[strings.ToLower(a.BugcheckCode)] {
			return kernel, kernel.what
		}
	}
	return nil, ""
}

// candidate is a third-party driver the table knows, loaded (in the module list) or only
// named by the text.
type candidate struct {
	name, vendor, kind string
	named              bool
}

// candidates are a's loaded modules, then the drivers its text names, that the table knows
// as third-party drivers; a module whose version resource says Microsoft is none. A loaded
// module is looked up by its image name, then by its module name, and named as the module.
func candidates(a *analysis.Analysis) []candidate {
	var out []candidate
	add := func(name string, lookups []string, company string, named bool) {
		if isMicrosoftCompany(company) {
			return
		}
		for _, l := range lookups {
			if l == "" {
				continue
			}
			if analysis.IsMicrosoftModule(l) {
				return
			}
			if e, ok := Lookup(l); ok {
				if e.Vendor != "Microsoft" {
					out = append(out, candidate{name: name, vendor: e.Vendor, kind: e.Kind, named: named})
				}
				return
			}
		}
	}
	for i := range a.Modules {
		m := &a.Modules[i]
		add(m.Name, []string{m.ImageName, m.Name}, m.CompanyName, false)
	}
	for _, f := range a.MentionedDrivers {
		add(f, []string{f}, "", true)
	}
	return out
}

// onlyVendor finds the candidates of the given kinds. It returns the best one (by the
// order of kinds, loaded before named, then the list's order) when they all come from one
// vendor, none with ok when there is none, and ok false when two vendors have one.
func onlyVendor(cs []candidate, kinds []string) (best candidate, ok bool) {
	bestRank := -1
	for _, c := range cs {
		rank := slices.Index(kinds, c.kind)
		if rank < 0 {
			continue
		}
		if best.vendor != "" && best.vendor != c.vendor {
			return candidate{}, false
		}
		if bestRank < 0 || rank < bestRank || rank == bestRank && best.named && !c.named {
			best, bestRank = c, rank
		}
	}
	return best, true
}

// kindWords says a kind for people: "firewall", "antivirus", "EDR".
func kindWords(kind string) string {
	switch kind {
	case "antivirus-filter":
		return "antivirus"
	case "edr":
		return "EDR"
	}
	return kind
}
