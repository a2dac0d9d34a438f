package cdbout

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// TestBlamedFixtures pins, per fixture of the shapes that blame a module without
// MODULE_NAME (blame.go), the culprit and how it was found, with the facts the shape gives.
func TestBlamedFixtures(t *testing.T) {
	tests := []struct {
		file, culprit, by string
		code              string
		check             func(a *analysis.Analysis) string
	}{
		{"faulting-ip-old.txt", "contosoflt", analysis.BlamedByFaultingIP, "0x1e", nil},
		{"faulting-module-label.txt", "fabrikamhv", analysis.BlamedByExceptionAddress, "0x50", nil},
		{"unable-to-load-image.txt", "litwarecap.sys", analysis.BlamedByUnloadableImage, "0x7c", nil},
		{"reduced-stacks.txt", "adatumusb", "", "0xda", func(a *analysis.Analysis) string {
			if len(a.Stack) != 7 || a.Stack[0].Module != "nt" || a.Stack[0].Symbol != "KeBugCheckEx" || a.Stack[4].Offset != "0x2d09" {
				return "call-site-only frames under STACK_TEXT"
			}
			return ""
		}},
		{"reduced-stack-notes.txt", "tailspinwfp.sys", "", "", func(a *analysis.Analysis) string {
			if len(a.Stack) != 7 || a.Stack[6].Module != "NETIO.SYS" || a.Stack[6].Offset != "0x24068" {
				return "a reduced stack without header, author notes after the frames, and the prose after it not a frame"
			}
			return ""
		}},
		{"reduced-kc.txt", "tailspinwfp", "", "", func(a *analysis.Analysis) string {
			if len(a.Stack) != 6 || a.Stack[3].Module != "tailspinwfp" || a.Stack[5].Symbol != "StreamProcessCallout" {
				return "kc frames with frame numbers"
			}
			return ""
		}},
		{"whocrashed-report.txt", "woodgrovenet.sys", analysis.BlamedByWhoCrashed, "0xd1", func(a *analysis.Analysis) string {
			m := a.Module("woodgrovenet.sys")
			switch {
			case a.BugcheckName != "DRIVER_IRQL_NOT_LESS_OR_EQUAL" || len(a.Args) != 4 || a.Args[3] != "0xFFFFF8012A3BA2B4":
				return "the first crash's name and arguments: " + a.BugcheckName + " " + strings.Join(a.Args, ",")
			case m == nil || m.CompanyName != "Woodgrove Bank Software Ltd." || m.ImagePath != `C:\WINDOWS\system32\drivers\woodgrovenet.sys`:
				return "the report's file path and company as the module's"
			case a.DumpFile != `C:\WINDOWS\Minidump\030725-10421-01.dmp`:
				return "dump file " + a.DumpFile
			case len(a.Modules) != 1:
				return "the second crash's module must not be added"
			}
			return ""
		}},
		{"whocrashed-kernel.txt", "ntoskrnl.exe", analysis.BlamedByWhoCrashed, "0x3b", func(a *analysis.Analysis) string {
			if m := a.Module("ntoskrnl"); m == nil || m.CompanyName != "Microsoft Corporation" || m.FileDescription != "NT Kernel & System" {
				return "kernel module resource"
			}
			return ""
		}},
		{"bluescreenview-report.txt", "northwindvd.sys", analysis.BlamedByBlueScreenView, "0x1000007e", func(a *analysis.Analysis) string {
			m := a.Module("northwindvd")
			switch {
			case a.BugcheckName != "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED" || len(a.Args) != 4 || a.Args[1] != "fffff801`4a6b12c4":
				return "name and parameters " + a.BugcheckName
			case m == nil || m.CompanyName != "Northwind Traders" || m.FileVersion != "5.2.0.118" || m.ProductName != "Northwind Disc Studio":
				return "Company, File Version, Product Name as the module's"
			case a.OSBuild != 22631 || a.Arch != "x64":
				return "build/arch from Minor Version and Processor"
			case a.DumpFile != `C:\Windows\Minidump\020325-11234-01.dmp`:
				return "dump file " + a.DumpFile
			}
			return ""
		}},
		{"bluescreenview-row.txt", "fabrikame.sys", analysis.BlamedByBlueScreenView, "0xd1", func(a *analysis.Analysis) string {
			if len(a.Args) != 4 || a.Args[3] != "fffff806`3b2a1c55" || a.DumpFile != "051824-7781-01.dmp" {
				return "row parameters and dump file"
			}
			return ""
		}},
		{"stop-screen.txt", "adatumbt.sys", analysis.BlamedByStopScreen, "0x9f", func(a *analysis.Analysis) string {
			if a.BugcheckName != "DRIVER_POWER_STATE_FAILURE" {
				return "stop code name " + a.BugcheckName
			}
			return ""
		}},
		{"whocrashed-kernel-then-driver.txt", "tailspinfw.sys", analysis.BlamedByWhoCrashed, "0xa", func(a *analysis.Analysis) string {
			if m := a.Module("tailspinfw"); m == nil || m.CompanyName != "Tailspin Toys" || a.DumpFile != `C:\WINDOWS\MEMORY.DMP` {
				return "the crash that names the driver is the one described"
			}
			return ""
		}},
		{"bluescreenview-list.txt", "contosocrypt.sys", analysis.BlamedByBlueScreenView, "0x1e", nil},
		{"bluescreenview-german.txt", "northwindwlan.sys", analysis.BlamedByBlueScreenView, "0xd1", func(a *analysis.Analysis) string {
			if m := a.Module("northwindwlan"); m == nil || m.CompanyName != "Northwind Traders" || a.OSBuild != 19045 || a.BugcheckName != "DRIVER_IRQL_NOT_LESS_OR_EQUAL" {
				return "German labels"
			}
			return ""
		}},
		{"bluescreenview-row-noname.txt", "woodgrovesb.sys", analysis.BlamedByBlueScreenView, "0x139", func(a *analysis.Analysis) string {
			if a.BugcheckName != "KERNEL_SECURITY_CHECK_FAILURE" || len(a.Args) != 4 {
				return "name from the reference when the row has none: " + a.BugcheckName
			}
			return ""
		}},
		{"wer-problem-signature.txt", "litwaredisk", analysis.BlamedByBucket, "0x50", func(a *analysis.Analysis) string {
			if a.BucketID != "AV_litwaredisk!LwReadSector" || len(a.Args) != 4 || a.OSBuild != 22631 {
				return "problem signature: bucket " + a.BucketID
			}
			return ""
		}},
		{"summary-aligned.txt", "adatumstor", "", "0x133", func(a *analysis.Analysis) string {
			if a.ImageName != "adatumstor.sys" || a.ProcessName != "System" || a.FailureBucketID != "0x133_ISR_adatumstor!AdIsr" {
				return "keys with aligned colons"
			}
			return ""
		}},
		{"stop-screen-nt.txt", "contosonic.sys", analysis.BlamedByStopScreen, "0xd1", func(a *analysis.Analysis) string {
			if len(a.Args) != 4 || a.Args[3] != "0xF86B5A89" {
				return "STOP line arguments " + strings.Join(a.Args, ",")
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			a := ParseBytes(in)
			if got := a.CulpritName(); got != tt.culprit {
				t.Errorf("culprit %q, want %q", got, tt.culprit)
			}
			if a.BlamedBy != tt.by {
				t.Errorf("blamed_by %q (%q), want %q", a.BlamedBy, a.BlamedModule, tt.by)
			}
			if a.BugcheckCode != tt.code {
				t.Errorf("bugcheck_code %q, want %q", a.BugcheckCode, tt.code)
			}
			if !a.Complete {
				t.Error("not complete")
			}
			if tt.check != nil {
				if msg := tt.check(a); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// TestBlameLimits checks what must not blame a module.
func TestBlameLimits(t *testing.T) {
	tests := []struct {
		name, in   string
		blamed, by string
		frames     int
	}{
		{"the analysis names its module: FAULTING_IP is not used",
			"MODULE_NAME: contosoflt\nIMAGE_NAME:  contosoflt.sys\nFAULTING_IP: \nnt!memcpy+33\n", "", "", 0},
		{"a placeholder MODULE_NAME does not count as named",
			"BUGCHECK_CODE: 50\nMODULE_NAME: Unknown_Module\nFAULTING_IP: \nlitware+1a2b\n", "litware", analysis.BlamedByFaultingIP, 0},
		{"FAULTING_IP before FAULTING_MODULE",
			"BUGCHECK_CODE: 3b\nFAULTING_MODULE: fffff801d6404000 nt\nFAULTING_IP: \nNETIO+10091\n", "NETIO", analysis.BlamedByFaultingIP, 0},
		{"FAULTING_IP without a module",
			"BUGCHECK_CODE: 3b\nFAULTING_IP: \n+2f\n", "", "", 0},
		{"two third-party images not loaded: neither is blamed",
			"BUGCHECK_CODE: d1\nUnable to load image \\SystemRoot\\system32\\DRIVERS\\a1.sys, Win32 error 0n2\nUnable to load image b2.sys, Win32 error 0n2\n", "", "", 0},
		{"Windows' own images are not candidates",
			"BUGCHECK_CODE: d1\nUnable to load image \\SystemRoot\\system32\\DRIVERS\\tcpip.sys, Win32 error 0n2\n*** ERROR: Module load completed but symbols could not be loaded for fabrikam.sys\n", "fabrikam.sys", analysis.BlamedByUnloadableImage, 0},
		{"a session without an analysis blames nothing",
			"Loading Dump File [C:\\x.dmp]\nUnable to load image \\SystemRoot\\system32\\DRIVERS\\a1.sys, Win32 error 0n2\n", "", "", 0},
		{"one call-site line is no stack",
			"BUGCHECK_CODE: 3b\nadatum+0x1a2b\n", "", "", 0},
		{"call sites with a trailing colon are instruction labels, not frames",
			"BUGCHECK_CODE: 3b\nnt!KiPageFault+0x42b:\nadatum+0x1a2b:\nadatum+0x1a2c:\n", "adatum", analysis.BlamedByExceptionAddress, 0},
		{"FAULTING_MODULE alone",
			"BUGCHECK_CODE: 50\nFAULTING_MODULE: fffff80539f20000 fabrikamhv\n", "fabrikamhv", analysis.BlamedByFaultingModule, 0},
		{"the exception record's instruction before FAULTING_MODULE",
			"BUGCHECK_CODE: 7e\nFAULTING_MODULE: fffff806c9800000 nt\nExceptionAddress: fffff80672b9c713 (contosofs!cpu_number+0x0000000000000013)\n", "contosofs", analysis.BlamedByExceptionAddress, 0},
		{"a failure bucket names the module",
			"BUGCHECK_CODE: 10d\nFAILURE_BUCKET_ID:  0x10D_4_litwarebus!unknown_function\n", "litwarebus", analysis.BlamedByBucket, 0},
		{"a bucket with an upper-case module",
			"BUGCHECK_CODE: 27\nFAILURE_BUCKET_ID:  0x27_CONTOSO!Fn+5a\n", "CONTOSO", analysis.BlamedByBucket, 0},
		{"a bucket with class words and an underscore in the module",
			"BUGCHECK_CODE: 3b\nFAILURE_BUCKET_ID:  AV_tail_spin!unknown_function\n", "tail_spin", analysis.BlamedByBucket, 0},
		{"a bucket's image",
			"BUGCHECK_CODE: 9f\nFAILURE_BUCKET_ID:  0x9F_3_adatumgpu_IMAGE_fabrikampci.sys\n", "fabrikampci.sys", analysis.BlamedByBucket, 0},
		{"aligned colons of a summary tool",
			"BUGCHECK_CODE       : d1\nIMAGE_NAME          : woodgrove.sys\n", "", "", 0},
		{"the Windows 8 stop screen in a sentence",
			"It said: SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (adatumvid.sys) and restarted\n", "adatumvid.sys", analysis.BlamedByStopScreen, 0},
		{"prose about a crash naming one third-party driver",
			"Since the update I get a BSOD every day.\nThe problem is the new contosoaudio.sys from version 6.0.\n", "contosoaudio.sys", analysis.BlamedByMentioned, 0},
		{"prose naming two third-party drivers blames neither",
			"BSOD again. I have contosoaudio.sys and fabrikamnet.sys installed.\n", "", "", 0},
		{"prose naming a driver without speaking of a crash",
			"The installer copies contosoaudio.sys to the drivers folder.\n", "", "", 0},
		{"Windows' own drivers in prose are not candidates",
			"Blue screen in NETIO.sys and ndis.sys with contosofw.sys loaded\n", "contosofw.sys", analysis.BlamedByMentioned, 0},
		{"an analysis that names its module ignores the prose",
			"BSOD, I also run contosoaudio.sys\nMODULE_NAME: fabrikamnet\n", "", "", 0},
		{"a name in parentheses that is no bug check is no stop screen (the prose still names it)",
			"I think it is ACME_AGENT (acme.sys) that crashes\n", "acme.sys", analysis.BlamedByMentioned, 0},
		{"a driver path whose backslashes were lost",
			"Error: SYSTEM_SERVICE_EXCEPTION file path: C:WINDOWSsystem32driversnetio.sys\n", "netio.sys", analysis.BlamedByMentionedWindows, 0},
		{"prose is no call site",
			"BUGCHECK_CODE: 3b\nnt!KeBugCheckEx is where it ends\nadatum+0x1a2b was in the list\n", "", "", 0},
		{"a WhoCrashed crash with an unknown module falls back to the advice",
			"On Mon 1/6/2025 8:00:00 AM your computer crashed\nThis was probably caused by the following module: Unknown (0xFFFFF8012A3BA2B4)\nBugcheck code: 0xD1 (0x0, 0x2, 0x0, 0x0)\nIt is suggested you look for an update for the following driver: adatum.sys (Adatum driver, Adatum).\n",
			"adatum.sys", analysis.BlamedByWhoCrashed, 0},
		{"a WhoCrashed report after prose with colons",
			"Note: it crashed again\nOn Mon 1/6/2025 8:00:00 AM your computer crashed\nThis was probably caused by the following module: adatum.sys (adatum+0x1a2b)\nBugcheck code: 0xD1 (0x0, 0x2, 0x0, 0x0)\n",
			"adatum.sys", analysis.BlamedByWhoCrashed, 0},
		{"WhoCrashed labels outside a report are not read",
			"company: Contoso\nfile path: C:\\x.sys\n", "", "", 0},
		{"a stop code that is not a bug check name",
			"Stop code: please help\n", "", "", 0},
		{"the German stop screen",
			"Bluescreen:\nStillstandcode: SYSTEM_SERVICE_EXCEPTION\nFehlerursache: contosogpu.sys\n", "contosogpu.sys", analysis.BlamedByStopScreen, 0},
		{"the German stop screen of Windows 10",
			"Stoppcode: DPC_WATCHDOG_VIOLATION\nFehlerursache: contosonet.sys\n", "contosonet.sys", analysis.BlamedByStopScreen, 0},
		{"the values below 'give them this info:' without labels",
			"Your PC ran into a problem and needs to restart.\nIf you call a support person, give them this info:\nUNEXPECTED_KERNEL_MODE_TRAP\n\nfabrikamsw.sys\n\n0x0000000000000008\n", "fabrikamsw.sys", analysis.BlamedByStopScreen, 0},
		{"'give them this info' without its colon",
			"If you call a support person, give them this info\nDPC_WATCHDOG_VIOLATION\nfabrikamsw.sys\n", "fabrikamsw.sys", analysis.BlamedByStopScreen, 0},
		{"a driver below 'give them this info:' without a bug check name is not read",
			"If you call a support person, give them this info:\nfabrikamsw.sys\n", "", "", 0},
		{"a version inside a driver's file name",
			"BSOD: the crash is in portmaster_kext_v1.0.15.sys again\n", "portmaster_kext_v1.0.15.sys", analysis.BlamedByMentioned, 0},
		{"prose naming one driver of Windows' own and nothing else",
			"BSOD in lxcore.sys PAGE_FAULT_IN_NONPAGED_AREA\n", "lxcore.sys", analysis.BlamedByMentionedWindows, 0},
		{"prose naming two drivers of Windows' own blames neither",
			"Blue screen, the dump shows NETIO.sys and ndis.sys\n", "", "", 0},
		{"the kernel image in prose is no driver to blame",
			"BSOD every night in ntoskrnl.sys\n", "", "", 0},
		{"a stack pasted alone: its innermost frame not of Windows",
			"fffffb8a`41933150 fffff806`5e3748b3 nt!KiPageFault+0x442\nfffffb8a`419332e0 fffff806`5e373ace adatumbpf!link_init+0x133\nfffffb8a`41933370 fffff806`5e3743e5 nt!IofCallDriver+0x55\n", "adatumbpf", analysis.BlamedByStackExcerpt, 0},
		{"one frame pasted alone is no stack",
			"fffffb8a`419332e0 fffff806`5e373ace adatumbpf!link_init+0x133\n", "", "", 0},
		{"a stack of Windows' own frames blames nothing",
			"fffffb8a`41933150 fffff806`5e3748b3 nt!KiPageFault+0x442\nfffffb8a`41933370 fffff806`5e3743e5 nt!IofCallDriver+0x55\n", "", "", 0},
		{"one driver shown with lmvm and nothing else",
			"0: kd> lmvm woodgrovenpm\nstart             end                 module name\nfffff806`bb610000 fffff806`bb653000   woodgrovenpm      (no symbols)\n    Loaded symbol image file: woodgrovenpm.sys\n    Image name: woodgrovenpm.sys\n    Timestamp:        Thu Aug 19 10:34:19 2021 (611DE653)\n",
			"woodgrovenpm.sys", analysis.BlamedByExamined, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ParseBytes([]byte(tt.in))
			if a.BlamedModule != tt.blamed || a.BlamedBy != tt.by {
				t.Errorf("blamed %q by %q, want %q by %q", a.BlamedModule, a.BlamedBy, tt.blamed, tt.by)
			}
			if len(a.Stack) != tt.frames {
				t.Errorf("%d frames, want %d", len(a.Stack), tt.frames)
			}
		})
	}
}

// TestStopInfoBlock checks the code and parameters read from the values typed below "give them
// this info:", and that a line of something else ends the block.
func TestStopInfoBlock(t *testing.T) {
	a := ParseBytes([]byte("If you call a support person, give them this info:\nUNEXPECTED_KERNEL_MODE_TRAP\n\nfabrikamsw.sys\n\n0x0000000000000008\n0xFFFFAD8068589EF0\nthen it rebooted\n0x0000000000000001\n"))
	if a.BugcheckCode != "0x7f" || a.BugcheckName != "UNEXPECTED_KERNEL_MODE_TRAP" {
		t.Errorf("code %q name %q, want 0x7f UNEXPECTED_KERNEL_MODE_TRAP", a.BugcheckCode, a.BugcheckName)
	}
	if want := []string{"0x0000000000000008", "0xFFFFAD8068589EF0"}; !slices.Equal(a.Args, want) {
		t.Errorf("args %q, want %q", a.Args, want)
	}
}
