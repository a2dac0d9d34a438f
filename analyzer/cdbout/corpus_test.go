package cdbout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// sidecar is the label file beside each corpus transcript (see the corpus README).
type sidecar struct {
	Kind     string                     `json:"kind"`
	Expected map[string]json.RawMessage `json:"expected"`
}

// TestCorpusScore scores the parser field by field against every labelled transcript in
// ../shared/corpus and fails under 99 % (the bar; today it scores 100 %). Every label
// key is mapped to an analysis field; a key without a mapping counts as a miss.
func TestCorpusScore(t *testing.T) {
	scoreDir(t, sharedtest.Dir(t, "corpus"), 99)
}

// TestExtraCorpusScore scores a second labelled set laid out like the shared corpus, when
// CDBOUT_EXTRA_CORPUS names one (material that must stay outside the repository).
func TestExtraCorpusScore(t *testing.T) {
	dir := os.Getenv("CDBOUT_EXTRA_CORPUS")
	if dir == "" {
		t.Skip("CDBOUT_EXTRA_CORPUS not set")
	}
	scoreDir(t, dir, 0)
}

func scoreDir(t *testing.T, dir string, min float64) {
	t.Helper()
	sidecars, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil || len(sidecars) == 0 {
		t.Fatalf("no labelled files under %s (%v)", dir, err)
	}
	sort.Strings(sidecars)
	total, hits := 0, 0
	for _, sc := range sidecars {
		raw, err := os.ReadFile(sc)
		if err != nil {
			t.Fatal(err)
		}
		var lab sidecar
		if err := json.Unmarshal(raw, &lab); err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		txt, err := os.ReadFile(strings.TrimSuffix(sc, ".json") + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		a := ParseBytes(txt)
		name, _ := filepath.Rel(dir, sc)
		keys := make([]string, 0, len(lab.Expected))
		for k := range lab.Expected {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		_, moduleMode := lab.Expected["module"]
		for _, k := range keys {
			total++
			var want any
			_ = json.Unmarshal(lab.Expected[k], &want)
			got, mapped := actual(a, k, moduleMode, want)
			if mapped && lenientEqual(want, got) {
				hits++
				continue
			}
			t.Logf("MISS %s %s: want %s, got %s", name, k, show(want), show(got))
		}
	}
	score := 100 * float64(hits) / float64(total)
	t.Logf("corpus score: %d/%d fields = %.2f %% over %d files", hits, total, score, len(sidecars))
	if score < min {
		t.Errorf("corpus score %.2f %% is under %.0f %%", score, min)
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// actual maps a label key to what the parser found. mapped is false for an unknown key.
func actual(a *analysis.Analysis, key string, moduleMode bool, want any) (any, bool) {
	s := a.Session
	if s == nil {
		s = &analysis.Session{}
	}
	if moduleMode {
		if v, ok := moduleField(a, key, want); ok {
			return v, true
		}
	}
	switch key {
	case "bugcheck_code":
		return a.BugcheckCode, true
	case "bugcheck_name":
		return a.BugcheckName, true
	case "args":
		return a.Args, true
	case "bugcheck_str":
		return a.BugcheckStr, true
	case "exception_code":
		return a.ExceptionCode, true
	case "process_name":
		return a.ProcessName, true
	case "failure_bucket_id":
		return a.FailureBucketID, true
	case "bucket_id":
		return a.BucketID, true
	case "default_bucket_id":
		return a.DefaultBucketID, true
	case "primary_problem_class":
		return a.PrimaryProblemClass, true
	case "module_name":
		return a.ModuleName, true
	case "image_name":
		return a.ImageName, true
	case "image_version":
		return a.ImageVersion, true
	case "symbol_name":
		return a.SymbolName, true
	case "followup_name":
		return a.FollowupName, true
	case "top_third_party_frame_module":
		return a.ThirdPartyModule, true
	case "debugger_version":
		return a.DebuggerVersion, true
	case "symbol_search_path":
		return a.SymbolPath, true
	case "dump_file":
		return a.DumpFile, true
	case "dump_type":
		return s.DumpType, true
	case "dump_comments":
		return pickAll(want, s.DumpComments), true
	case "os_line":
		return s.OSLine, true
	case "product":
		return s.Product, true
	case "built_by":
		return s.BuiltBy, true
	case "build_lab":
		return s.BuildLab, true
	case "edition_build_lab":
		return s.EditionBuildLab, true
	case "debug_session_time":
		return s.DebugSessionTime, true
	case "system_uptime":
		return s.SystemUptime, true
	case "process_uptime":
		return s.ProcessUptime, true
	case "initial_command":
		return s.InitialCommand, true
	case "quit":
		return s.Quit, true
	case "command":
		return pick(want, s.Commands), true
	case "error", "symbol_errors":
		return pickAll(want, a.DebuggerErrors), true
	case "error_detail", "win32_error":
		var vals []string
		for _, d := range a.Diagnostics {
			if key == "error_detail" {
				vals = append(vals, d.Detail)
			} else {
				vals = append(vals, d.Code)
			}
		}
		return pick(want, vals), true
	case "exception_record_code", "fail_fast_subcode":
		if a.ExceptionRecord == nil {
			return "", true
		}
		if key == "fail_fast_subcode" {
			return a.ExceptionRecord.Subcode, true
		}
		return a.ExceptionRecord.Code, true
	case "image_timestamp":
		if v := a.Fields["IMAGE_TIMESTAMP"]; v != "" {
			return v, true
		}
		return a.Fields["DEBUG_FLR_IMAGE_TIMESTAMP"], true
	case "os_name":
		return a.Fields["OSNAME"], true
	case "os_platform_type":
		return a.Fields["OSPLATFORM_TYPE"], true
	}
	if k, ok := strings.CutPrefix(key, "kv_"); ok {
		for name, v := range a.KeyValues {
			if strings.ReplaceAll(strings.ToLower(name), ".", "_") == k {
				return v, true
			}
		}
		return "", true
	}
	if v, ok := a.Fields[strings.ToUpper(key)]; ok {
		return v, true
	}
	return nil, false
}

// moduleField maps the lmvm label keys to the module entry the label names.
func moduleField(a *analysis.Analysis, key string, want any) (any, bool) {
	var m analysis.Module
	if len(a.Modules) > 0 {
		m = a.Modules[0]
	}
	switch key {
	case "module":
		return m.Name, true
	case "start":
		return m.Start, true
	case "end":
		return m.End, true
	case "image_path":
		return m.ImagePath, true
	case "image_name":
		return m.ImageName, true
	case "timestamp":
		return m.Timestamp, true
	case "timestamp_hex":
		return m.TimestampHex, true
	case "checksum":
		return m.Checksum, true
	case "image_size":
		return m.ImageSize, true
	case "file_version":
		return m.FileVersion, true
	case "product_version":
		return m.ProductVersion, true
	case "company_name":
		return m.CompanyName, true
	case "product_name":
		return m.ProductName, true
	case "file_description":
		return m.FileDescription, true
	case "original_filename":
		return m.OriginalFilename, true
	case "resource_file_version":
		return m.Resources["FileVersion"], true
	case "symbol_status":
		return m.SymbolStatus, true
	case "symbol_file":
		return m.SymbolFile, true
	case "loaded_symbol_image_file":
		return m.LoadedSymbolImageFile, true
	case "mapped_memory_image_file":
		return m.MappedImageFile, true
	}
	return nil, false
}

// pick returns the value among vals that equals want (for "is it among them" labels).
func pick(want any, vals []string) any {
	for _, v := range vals {
		if lenientEqual(want, v) {
			return v
		}
	}
	return vals
}

// pickAll matches a label that is one string or a list of strings against found values.
func pickAll(want any, vals []string) any {
	list, ok := want.([]any)
	if !ok {
		return pick(want, vals)
	}
	out := make([]any, 0, len(list))
	for _, w := range list {
		out = append(out, pick(w, vals))
	}
	return out
}

// lenientEqual compares as a person would: surrounding and repeated whitespace, hex case
// and zero padding do not matter.
func lenientEqual(want, got any) bool {
	switch w := want.(type) {
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case string:
		g, ok := got.(string)
		return ok && sameText(w, g)
	case []any:
		var gl []string
		switch g := got.(type) {
		case []string:
			gl = g
		case []any:
			for _, x := range g {
				s, _ := x.(string)
				gl = append(gl, s)
			}
		default:
			return false
		}
		if len(gl) != len(w) {
			return false
		}
		for i := range w {
			ws, _ := w[i].(string)
			if !sameText(ws, gl[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func sameText(w, g string) bool {
	w, g = strings.Join(strings.Fields(w), " "), strings.Join(strings.Fields(g), " ")
	if w == g {
		return true
	}
	hw, okw := hexNorm(w)
	hg, okg := hexNorm(g)
	return okw && okg && hw == hg
}

func hexNorm(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(s, "`", ""))
	s = strings.TrimPrefix(s, "0x")
	if !isHex(s) {
		return "", false
	}
	s = strings.TrimLeft(s, "0")
	return s, true
}
