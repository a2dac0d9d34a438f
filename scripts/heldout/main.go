// Command heldout scores bsodwatch's known-issue verdicts on held-out crash threads: public
// crash reports that someone diagnosed, kept outside the repository (their text is other
// people's writing) and never shown to the rules before they are scored.
//
//	go run ./scripts/heldout [-bsodwatch BIN] [-rules DIR] SET_DIR...
//
// A set is a folder whose sub-folders (or itself) hold pairs NN.txt and NN.json: the crash
// text as it was posted, and its label, {"keywords": [...], "product": ...} with the words that
// name the cause the thread diagnosed (driver file, product, vendor). Each text is given to
// `bsodwatch parse --json` under a neutral file name, with the shipped library (--known) or the
// rules in -rules DIR; so a copy of the binary and rules frozen before anyone looked at a set
// scores that set honestly.
//
//	hit     the headline known issue (first match: id, title, summary) or the culprit
//	        (module, vendor, product, description) names one of the keywords;
//	ceiling one of the keywords appears anywhere in the crash text: what a tool that reads
//	        only the text could at best find;
//	review  the headline rule is not generic and names none of the keywords (a possible
//	        wrong blame, to be read by hand).
//
// Keywords and verdicts are compared in lower case, as whole words, with .sys/.dll/.exe
// dropped. The last lines print the totals per set and in all.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("heldout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bsodwatch", "bin/bsodwatch", "the bsodwatch `binary` to score")
	rulesDir := fs.String("rules", "", "score the rules in `DIR` instead of the binary's shipped library")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: heldout [-bsodwatch BIN] [-rules DIR] SET_DIR...")
		return 2
	}
	tmp, err := os.MkdirTemp("", "heldout")
	if err != nil {
		fmt.Fprintf(stderr, "heldout: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	parse := func(text []byte) (verdict, error) {
		return runParse(*bin, *rulesDir, tmp, text)
	}
	var all score
	for _, dir := range fs.Args() {
		s, err := scoreSet(dir, parse, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "heldout: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: %s\n\n", dir, s)
		all.add(s)
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stdout, "all: %s\n", all)
	}
	return 0
}

// label is the part of NN.json the score reads.
type label struct {
	Product  string   `json:"product"`
	Keywords []string `json:"keywords"`
}

// verdict is the part of `bsodwatch parse --json` output the score reads.
type verdict struct {
	Matches []struct {
		ID      string   `json:"id"`
		Title   string   `json:"title"`
		Summary string   `json:"summary"`
		Tags    []string `json:"tags"`
	} `json:"matches"`
	Culprit *struct {
		Module      string `json:"module"`
		Vendor      string `json:"vendor"`
		Product     string `json:"product"`
		Description string `json:"description"`
	} `json:"culprit"`
}

// text is what the verdict says to a reader: the headline issue and the culprit.
func (v verdict) text() string {
	var parts []string
	if len(v.Matches) > 0 {
		m := v.Matches[0]
		parts = append(parts, m.ID, m.Title, m.Summary)
	}
	if c := v.Culprit; c != nil {
		parts = append(parts, c.Module, c.Vendor, c.Product, c.Description)
	}
	return fileExt.ReplaceAllString(strings.Join(parts, " "), "")
}

func (v verdict) headline() string {
	if len(v.Matches) == 0 {
		return "-"
	}
	return v.Matches[0].ID
}

func (v verdict) culprit() string {
	if v.Culprit == nil {
		return "-/-"
	}
	return orDash(v.Culprit.Module) + "/" + orDash(v.Culprit.Vendor)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var fileExt = regexp.MustCompile(`(?i)\.(sys|dll|exe)\b`)

// score counts one set's items.
type score struct{ items, hits, ceiling, review int }

func (s *score) add(o score) {
	s.items += o.items
	s.hits += o.hits
	s.ceiling += o.ceiling
	s.review += o.review
}

func (s score) String() string {
	pct := 0.0
	if s.items > 0 {
		pct = 100 * float64(s.hits) / float64(s.items)
	}
	return fmt.Sprintf("hits %d/%d (%.0f %%); ceiling (a keyword in the text) %d/%d; headline rules naming none of the keywords %d",
		s.hits, s.items, pct, s.ceiling, s.items, s.review)
}

// scoreSet scores every labelled item under dir (its own files and those of its
// sub-folders, in name order) and prints one line per item.
func scoreSet(dir string, parse func([]byte) (verdict, error), w io.Writer) (score, error) {
	var s score
	items, err := findItems(dir)
	if err != nil {
		return s, err
	}
	if len(items) == 0 {
		return s, fmt.Errorf("%s: no labelled items (NN.txt with NN.json)", dir)
	}
	for _, base := range items {
		var l label
		b, err := os.ReadFile(base + ".json")
		if err == nil {
			err = json.Unmarshal(b, &l)
		}
		if err != nil {
			return s, fmt.Errorf("%s.json: %w", base, err)
		}
		kws := normKeywords(l.Keywords)
		if len(kws) == 0 {
			return s, fmt.Errorf("%s.json: no keywords", base)
		}
		text, err := os.ReadFile(base + ".txt")
		if err != nil {
			return s, err
		}
		v, err := parse(text)
		if err != nil {
			return s, fmt.Errorf("%s.txt: %w", base, err)
		}
		hit := firstWord(v.text(), kws) != ""
		inside := firstWord(string(text), kws) != ""
		s.items++
		mark := "n/a "
		switch {
		case hit:
			s.hits++
			mark = "HIT "
		case inside:
			mark = "miss"
		}
		if inside {
			s.ceiling++
		}
		note := ""
		if len(v.Matches) > 0 && !hit && !slices.Contains(v.Matches[0].Tags, "generic") {
			s.review++
			note = "  REVIEW: the headline rule names none of the keywords"
		}
		rel, _ := filepath.Rel(dir, base)
		fmt.Fprintf(w, "%-10s %s rule=%s culprit=%s  label=%s [%s]%s\n", rel, mark, v.headline(), v.culprit(), l.Product, strings.Join(kws, ","), note)
	}
	return s, nil
}

// findItems lists the items of a set: the paths without extension of every NN.txt that has
// an NN.json beside it, in dir and its direct sub-folders.
func findItems(dir string) ([]string, error) {
	var out []string
	dirs := []string{dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(dir, e.Name()))
		}
	}
	for _, d := range dirs {
		txts, err := filepath.Glob(filepath.Join(d, "*.txt"))
		if err != nil {
			return nil, err
		}
		for _, t := range txts {
			base := strings.TrimSuffix(t, ".txt")
			if _, err := os.Stat(base + ".json"); err == nil {
				out = append(out, base)
			}
		}
	}
	return out, nil
}

// normKeywords lower-cases the keywords and drops a file extension, so "SbieDrv.sys" matches
// a culprit named SbieDrv.
func normKeywords(in []string) []string {
	var out []string
	for _, k := range in {
		k = strings.ToLower(strings.TrimSpace(k))
		for _, ext := range []string{".sys", ".dll", ".exe"} {
			k = strings.TrimSuffix(k, ext)
		}
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// firstWord returns the first keyword found in text as a whole word (no letter or digit
// right before or after it), comparing in lower case; "" when none is.
func firstWord(text string, kws []string) string {
	t := strings.ToLower(text)
	for _, k := range kws {
		for i := 0; ; {
			j := strings.Index(t[i:], k)
			if j < 0 {
				break
			}
			start, end := i+j, i+j+len(k)
			if (start == 0 || !isAlnum(t[start-1])) && (end == len(t) || !isAlnum(t[end])) {
				return k
			}
			i = start + 1
		}
	}
	return ""
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// runParse gives text to `bsodwatch parse --json` as tmp/crash.txt, so no file name hints at
// the answer, and decodes what it prints. A parse that finds no analysis still prints JSON
// (complete:false) and exits 0; any other exit is an error.
func runParse(bin, rulesDir, tmp string, text []byte) (verdict, error) {
	var v verdict
	p := filepath.Join(tmp, "crash.txt")
	if err := os.WriteFile(p, text, 0o600); err != nil {
		return v, err
	}
	args := []string{"parse", "--json", "--known", p}
	if rulesDir != "" {
		args = []string{"parse", "--json", "--rules", rulesDir, p}
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return v, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
		}
		return v, err
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		return v, fmt.Errorf("%s parse --json printed no JSON: %w", bin, err)
	}
	return v, nil
}
