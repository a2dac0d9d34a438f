package analysis

import (
	"bytes"
	"strings"
)

// microsoftModules lists modules shipped with Windows (kernel, HAL, in-box drivers, core
// user-mode DLLs and runtimes), by module name without extension, lower-case. The list
// decides third_party_module: a stack frame whose module is here is Microsoft's code, which
// the seed author excluded when looking for the culprit. It is deliberately explicit (no
// prefix guessing): a vendor driver named like a Windows one must not hide. An lmvm
// CompanyName, when the transcript holds one, overrides the list (see IsMicrosoft).
var microsoftModules = setOf(
	// kernel, HAL, boot and core kernel libraries
	"nt", "ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp", "ntkrnlup", "hal", "halmacpi", "halacpi",
	"kdcom", "kdnet", "kd", "ci", "clfs", "cng", "ksecdd", "ksecpkg", "pshed", "werkernel", "tm",
	"bootvid", "mcupdate_genuineintel", "mcupdate_authenticamd", "msrpc", "ntosext", "pdc",
	"cmimcext", "skci", "securekernel", "hvix64", "hvax64", "hvloader", "winhvr", "winhv", "vid",
	"clipsp", "fltmgr", "fltmgr_sys", "wdf01000", "wdfldr", "acpi", "acpiex", "pci", "msisadrv",
	"intelppm", "amdppm", "processr", "volmgr", "volmgrx", "volsnap", "mountmgr", "partmgr",
	"disk", "classpnp", "storport", "stornvme", "storahci", "ataport", "atapi", "pciidex",
	"scsiport", "iastor", "msahci", "spaceport", "fvevol", "rdyboost", "iorate", "ehstorclass",
	"ntfs", "refs", "fastfat", "exfat", "cdfs", "udfs", "npfs", "msfs", "mup", "rdbss", "mrxsmb",
	"mrxsmb10", "mrxsmb20", "srv", "srv2", "srvnet", "csc", "dfsc", "filecrypt", "fileinfo",
	"wof", "luafv", "wcifs", "cldflt", "bindflt", "storqosflt", "bfs", "npsvctrig", "ndis",
	"netio", "tcpip", "tcpip6", "afd", "afunix", "tdi", "tdx", "netbt", "netbios", "http",
	"wfplwfs", "fwpkclnt", "ndiswan", "ndistapi", "rasl2tp", "raspptp", "raspppoe", "rassstp",
	"pacer", "tunnel", "vwififlt", "vwifibus", "nwifi", "wanarp", "mslldp", "rspndr", "lltdio",
	"nsiproxy", "nsi", "ws2ifsl", "wfp", "bowser", "nwlnkipx", "ndisuio", "netadaptercx", "nwfilter",
	"vmswitch", "vmsproxy", "vmbus", "wdiwifi", "vmbkmcl", "vmbkmclr", "winnat", "bridge", "mpsdrv",
	"wd", "wdfilter", "wdboot", "wdnisdrv", "mpfilter", "mpkslfilter", "condrv", "beep", "null",
	"win32k", "win32kbase", "win32kfull", "win32kns", "cdd", "dxgkrnl", "dxgmms1", "dxgmms2",
	"watchdog", "basicdisplay", "basicrender", "monitor", "videoprt", "vga", "dxkrnl",
	"usbport", "usbhub", "usbhub3", "usbccgp", "usbxhci", "ucx01000", "usbehci", "usbuhci",
	"usbohci", "usbstor", "uaspstor", "hidclass", "hidparse", "hidusb", "kbdclass", "kbdhid",
	"mouclass", "mouhid", "i8042prt", "ks", "ksthunk", "portcls", "drmk", "hdaudbus",
	"hdaudio", "usbaudio", "usbvideo", "audiosrv", "serial", "serenum", "parport", "bthport",
	"bthusb", "rfcomm", "bthenum", "mssmbios", "umbus", "swenum", "compositebus", "rdpbus",
	"rdpdr", "rdpwd", "tdtcp", "termdd", "rdpvideominiport", "tsusbhub", "mmcss", "peauth",
	"spsys", "ahcache", "cng_sys", "crashdmp", "dumpfve", "dump_diskdump", "dump_storport",
	"dump_stornvme", "dump_dumpfve", "dump_iastor", "dump_storahci", "dump_ataport", "dump_atapi",
	"hwpolicy", "ndu", "nvraid", "rasacd", "sdbus", "sdstor", "sfloppy", "vdrvroot", "vhdmp",
	"wmilib", "wpprecorder", "xboxgip", "gpuenergydrv", "msgpioclx", "intelpep", "acpitime",
	"condrv_sys", "storufs", "wtd", "sgrmagent", "ksecpkg_sys", "cmbatt", "battc", "hvsocket",
	"iumsdk", "netvsc", "storvsc", "vmstorfl", "vpci", "winmad", "winverbs", "ndproxy", "sysmon",
	"pcw", "cea", "mssecflt", "mssecwfp", "lxss", "lxcore", "tpm", "bam", "dam", "wimmount",
	"applockerfltr", "cimfs", "wcnfs", "vmgencounter", "vmbusr", "storvsp", "passthruparser",
	"nvdimm", "scmbus", "acpipagr", "wmiacpi", "acpipmi", "cdrom", "wudfrd", "wudfpf", "mrxdav",
	"ndiscap", "kdnic", "ndisvirtualbus", "umpass", "volume", "hidbth", "bthmodem", "bthleenum",
	"bthhfenum", "wificx", "windowstrustedrt", "windowstrustedrtproxy", "msquic", "tcpipreg",
	"mslbfoprovider",
	// more in-box drivers of Windows 10/11 and Windows Server (client, server roles,
	// Hyper-V, failover clustering, Bluetooth, USB type-C, SoC buses)
	"acpidev", "agilevpn", "appid", "appvstrm", "appvvemgr", "appvvfs", "asyncmac", "bthmini",
	"bthpan", "btha2dp", "bthhfaud", "hidbthle", "buttonconverter", "cad", "circlass", "dmvsc",
	"drmkaud", "errdev", "fdc", "flpydisk", "fs_rec", "fsdepends", "fxppm", "gencounter",
	"genericusbfn", "hidbatt", "hidi2c", "hidinterrupt", "hidir", "hidspi", "hvcrash", "hvservice",
	"hyperkbd", "hypervideo", "indirectkmd", "ipfltdrv", "ipnat", "isapnp", "kbldfltr", "mausbhost",
	"mausbip", "mbbcx", "modem", "mshidkmdf", "mshidumdf", "mshwnclx", "msgpiowin32", "mskssrv",
	"mspclock", "mspqm", "mstee", "msdsm", "mpio", "iscsiprt", "msbridge", "mtconfig", "ndfltr",
	"ndisimplatform", "pktmon", "wfpcapture", "nfsrdr", "msnfsflt", "pcmcia", "qwavedrv", "ramdisk",
	"rasgre", "refsv1", "rhproxy", "sbp2port", "scfilter", "sdfrd", "sdport", "sercx", "sercx2",
	"serpl011", "sermouse", "sleepstudyhelper", "spbcx", "storflt", "tbs", "terminpt", "tsusbflt",
	"tsusbgd", "ucmcx", "ucmcx0101", "ucmtcpcicx", "ucmucsi", "ucmucsicx", "ucmucsiacpiclient",
	"udecx", "uefi", "ufx01000", "urscx01000", "usb80236", "usbaudio2", "usbcir", "usbd",
	"usbprint", "usbser", "usbncm", "rndismp", "rndismpx", "usb8023", "usb8023x", "wmbclass",
	"verifierext", "vhf", "vmgid", "vmsproxyhnic", "vmsvsf", "vmsvsm", "vpcivsp", "vhdparser",
	"vkrnlintvsp", "vkrnlintvsc", "synth3dvsc", "vfpext", "vwifimp", "wimfsf", "win32kmin",
	"winusb", "wpdupfltr", "xinputhid", "sysaudio", "wdmaud", "rdpdd", "rdpencdd", "rdprefmp",
	"tdpipe", "tssecsrv", "dfsrro", "datascrn", "quota", "dedup", "svhdxflt", "clusdisk",
	"clusport", "clusflt", "netft", "csvfs", "csvflt", "csvnsflt", "csvvbus", "prjflt", "bttflt",
	"pmem", "scmdisk0101", "ehstortcgdrv", "fbwf", "uwfs", "uwfreg", "wimmount_sys", "sysmondrv",
	"procmon24", "procmon23", "procexp152", "wfplwf", "ws2ifsl_sys", "netadapter",
	"microsoft_bluetooth_legacy_leenumerator", "microsoft_bluetooth_avrcptransport", "netcfgx",
	"netsetupapi", "netsetupshim", "devmgr", "newdev", "drvinst", "drvsetup",
	// user mode: loader, core DLLs, runtimes, shell and frequent system processes
	"ntdll", "kernel32", "kernelbase", "user32", "gdi32", "gdi32full", "win32u", "advapi32",
	"sechost", "rpcrt4", "combase", "ole32", "oleaut32", "shell32", "shlwapi", "shcore",
	"msvcrt", "ucrtbase", "msvcp_win", "comctl32", "comdlg32", "ws2_32", "mswsock", "wininet",
	"winhttp", "crypt32", "bcrypt", "bcryptprimitives", "cryptbase", "cryptsp", "wintrust",
	"imm32", "msctf", "uxtheme", "dwmapi", "version", "psapi", "dbghelp", "dbgcore", "wow64",
	"wow64cpu", "wow64win", "wow64base", "wow64con", "xtajit", "verifier", "vrfcore", "vfbasics",
	"vfcompat", "apphelp", "clbcatq", "powrprof", "profapi", "umpdc", "cfgmgr32", "setupapi",
	"devobj", "wldp", "windows_storage", "kernel_appcore", "sspicli", "netapi32", "iphlpapi",
	"dnsapi", "nsi_dll", "dhcpcsvc", "winmm", "mmdevapi", "audioses", "d3d9", "d3d11", "d3d12",
	"dxgi", "d2d1", "dwrite", "opengl32", "glu32", "mfplat", "mf", "msvcp140", "vcruntime140",
	"vcruntime140_1", "msvcr100", "msvcr110", "msvcr120", "msvcp100", "msvcp110", "msvcp120",
	"msvcr90", "msvcr80", "mscoree", "mscoreei", "clr", "clrjit", "coreclr", "mscorwks",
	"mscorlib", "mscorlib_ni", "system_ni", "system_core_ni", "coreclr_dll", "hostpolicy",
	"hostfxr", "jscript", "jscript9", "vbscript", "mshtml", "ieframe", "urlmon", "iertutil",
	"edgehtml", "chakra", "explorer", "svchost", "csrss", "smss", "wininit", "winlogon",
	"lsass", "services", "dwm", "conhost", "rundll32", "dllhost", "taskhostw", "spoolsv",
	"werfault", "wermgr", "faultrep", "wer", "msi", "wbemcomn", "fastprox", "wmiutils",
	"ntmarta", "userenv", "secur32", "schannel", "ncrypt", "ntasn1", "rsaenh", "gpapi",
	"kerberos", "msv1_0", "samlib", "samsrv", "lsasrv", "netlogon", "authz", "winsta",
	"wtsapi32", "dsreg", "coremessaging", "coreuicomponents", "inputhost", "textinputframework",
	"twinapi", "twinapi_appcore", "windows_ui", "propsys", "sxs", "msasn1", "cabinet",
	"oleacc", "winspool", "riched20", "msftedit", "usp10", "lpk", "gdiplus", "windowscodecs",
	"dcomp", "d3d10warp", "sqmapi", "rtutils", "rasapi32", "rasman", "mpr", "davclnt",
	"ntshrui", "srvcli", "linkinfo", "cscapi", "atl", "atl100", "mfc42", "mfc140u", "mfc140",
	"dsound", "dinput", "dinput8", "xinput1_3", "xinput1_4", "xinput9_1_0", "xaudio2_7",
	"xaudio2_8", "xaudio2_9", "x3daudio1_7", "d3dx9_43", "d3dcompiler_43", "d3dcompiler_47",
	"ddraw", "d3d8", "d3d10", "d3d10_1", "d3d10core", "dxcore", "winmmbase", "avrt", "ksuser",
	"msacm32", "hid", "wintypes", "mfreadwrite", "mfcore", "dxva2",
	// .NET Framework and .NET assemblies shipped by Microsoft (their NGEN images carry "_ni")
	"system", "system_core", "system_windows_forms", "system_configuration", "system_xml",
	"system_xml_linq", "system_data", "system_drawing", "system_web", "system_xaml",
	"system_runtime", "system_private_corelib", "system_net_http", "system_servicemodel",
	"presentationframework", "presentationcore", "windowsbase", "microsoft_csharp",
	"microsoft_visualbasic",
)

// placeholderModules are names the analyzer prints when it knows no module: never a culprit.
var placeholderModules = setOf("unknown_module", "unknown_image", "unknown", "heap_corruption",
	"memory_corruption", "hardware", "hardware_disk", "hardware_ram", "corrupt_module",
	"large_pool_corruption", "pool_corruption", "wrong_symbols", "hardware_cpu_cache")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// moduleKey reduces "NETIO.SYS", "ntdll.dll" or "Windows.Storage" to the list's form. The
// base address the debugger appends when two modules share a name ("ntdll_771d0000", the
// 32-bit ntdll of a WOW64 process) is not part of the name.
func moduleKey(name string) string {
	var b [64]byte
	return string(appendModuleKey(b[:0], name))
}

// moduleExts are the extensions a module's name is known without.
var moduleExts = [...]string{".sys", ".dll", ".exe", ".ocx", ".drv", ".cpl", ".efi", ".mui"}

// appendModuleKey appends moduleKey(name) to dst: lookups and comparisons of module names
// then need no allocation (names are ASCII; other letters keep their case).
func appendModuleKey(dst []byte, name string) []byte {
	n := strings.TrimSpace(name)
	for _, ext := range moduleExts {
		if len(n) >= len(ext) && strings.EqualFold(n[len(n)-len(ext):], ext) {
			n = n[:len(n)-len(ext)]
			break
		}
	}
	if i := strings.LastIndexByte(n, '_'); i > 0 && (len(n)-i-1 == 8 || len(n)-i-1 == 16) && isHexString(n[i+1:]) {
		n = n[:i]
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '.' || c == '-':
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// SameModule reports whether two names are one module: "NETIO", "netio.sys" and
// "NETIO.SYS" are; "ovpn-dco.sys" is the debugger's "ovpn_dco".
func SameModule(x, y string) bool {
	var bx, by [64]byte
	kx := appendModuleKey(bx[:0], x)
	return len(kx) > 0 && bytes.Equal(kx, appendModuleKey(by[:0], y))
}

// isHexString reports hex digits of either case.
func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// IsMicrosoftModule reports whether name is in the explicit list of Windows modules.
// The NGEN image of an assembly ("System_Windows_Forms_ni") is that assembly.
func IsMicrosoftModule(name string) bool {
	var b [64]byte
	k := appendModuleKey(b[:0], name)
	if microsoftModules[string(k)] || bytes.HasSuffix(k, []byte("_ni")) && microsoftModules[string(k[:len(k)-3])] {
		return true
	}
	// The crash-dump copy of a storage driver ("dump_storahci") is that driver, and Microsoft
	// Defender's kernel scanning driver has a random hex suffix ("MpKsl3d4b5a7e").
	if rest, ok := bytes.CutPrefix(k, []byte("dump_")); ok && microsoftModules[string(rest)] {
		return true
	}
	return bytes.HasPrefix(k, []byte("mpksl")) && len(k) == len("mpksl")+8 && isHexString(string(k[len("mpksl"):]))
}

// IsKernelModule reports the kernel's and the HAL's names (nt, ntoskrnl.exe, ntkrnlmp,
// hal.dll, ...): frames every bug check has.
func IsKernelModule(name string) bool {
	var b [64]byte
	return kernelModules[string(appendModuleKey(b[:0], name))]
}

// IsPlaceholderModule reports whether name is one of the analyzer's stand-ins for "no
// module" (Unknown_Module, Unknown_Image, unknown, heap_corruption, ...).
func IsPlaceholderModule(name string) bool {
	var b [64]byte
	return placeholderModules[string(appendModuleKey(b[:0], name))]
}

// IsMicrosoft reports whether the module name is Microsoft's code: by the CompanyName of an
// lmvm block in a when there is one, else by the explicit list.
func (a *Analysis) IsMicrosoft(name string) bool {
	if m := a.Module(name); m != nil {
		if c := m.CompanyName; c != "" {
			return strings.Contains(strings.ToLower(c), "microsoft")
		}
	}
	return IsMicrosoftModule(name)
}

// Module returns the lm/lmvm entry for a module name ("SYMEVENT" or "SYMEVENT.SYS"), or nil.
func (a *Analysis) Module(name string) *Module {
	var b, mb [64]byte
	k := appendModuleKey(b[:0], name)
	if len(k) == 0 {
		return nil
	}
	for i := range a.Modules {
		m := &a.Modules[i]
		if bytes.Equal(appendModuleKey(mb[:0], m.Name), k) || m.ImageName != "" && bytes.Equal(appendModuleKey(mb[:0], m.ImageName), k) {
			return m
		}
	}
	return nil
}

// CulpritName is the module a person would blame first: the analyzer's MODULE_NAME when it is
// a third-party module (the debugger's own verdict), else the innermost third-party stack
// frame's module, else the Suspect among the loaded drivers, else MODULE_NAME unless it is a
// placeholder, else the IMAGE_NAME, else the module blamed by another shape of the text
// (BlamedModule), else the innermost stack frame's module that is not the kernel's.
func (a *Analysis) CulpritName() string { return a.culpritName(true) }

// OwnCulpritName is CulpritName without the Suspect: the module the analysis blames by
// itself, which decides whether a suspect is looked for at all.
func (a *Analysis) OwnCulpritName() string { return a.culpritName(false) }

func (a *Analysis) culpritName(suspect bool) string {
	if a.ModuleName != "" && !IsPlaceholderModule(a.ModuleName) && !a.IsMicrosoft(a.ModuleName) &&
		!SameModule(a.ModuleName, a.ThirdPartyModule) {
		return a.ModuleName
	}
	if a.ThirdPartyModule != "" {
		return a.ThirdPartyModule
	}
	if suspect && a.Suspect != "" {
		return a.Suspect
	}
	if a.ModuleName != "" && !IsPlaceholderModule(a.ModuleName) {
		return a.ModuleName
	}
	if a.ImageName != "" && !IsPlaceholderModule(a.ImageName) {
		return a.ImageName
	}
	if a.BlamedModule != "" && !IsPlaceholderModule(a.BlamedModule) {
		return a.BlamedModule
	}
	return a.topFrameModule()
}

// topFrameModule is the module of the innermost stack frame that is not the kernel's own
// (nt, hal): the culprit of a pasted stack without MODULE_NAME, even a Windows module's.
func (a *Analysis) topFrameModule() string {
	for _, f := range a.Stack {
		m := f.Module
		if len(m) < 2 || strings.ContainsAny(m, " `") || IsPlaceholderModule(m) || IsKernelModule(m) {
			continue
		}
		return m
	}
	return ""
}

// WhyTopFrame says, for people, how a culprit of CulpritIsTopFrame was chosen.
const WhyTopFrame = "the innermost stack frame below the kernel (the analysis names no module)"

// CulpritIsTopFrame reports whether CulpritName is the innermost stack frame's module, for
// want of any module the analysis names.
func (a *Analysis) CulpritIsTopFrame() bool {
	m := a.topFrameModule()
	return m != "" && a.CulpritName() == m && a.ThirdPartyModule == "" && a.Suspect == "" && a.BlamedModule == "" &&
		(a.ModuleName == "" || IsPlaceholderModule(a.ModuleName)) && (a.ImageName == "" || IsPlaceholderModule(a.ImageName))
}

// kernelModules are the kernel's and the HAL's module names: frames every bug check has.
var kernelModules = setOf("nt", "ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp", "ntkrnlup", "hal", "halmacpi", "halacpi")

// CulpritIsBlamed reports whether CulpritName is the BlamedModule: the analysis names no
// module of its own.
func (a *Analysis) CulpritIsBlamed() bool {
	return a.BlamedModule != "" && a.CulpritName() == a.BlamedModule && a.ThirdPartyModule == "" &&
		(a.ModuleName == "" || IsPlaceholderModule(a.ModuleName)) && (a.ImageName == "" || IsPlaceholderModule(a.ImageName))
}
