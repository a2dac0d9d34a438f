package fetcher

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
)

// FileInventory reads hosts from a file and re-reads it when its size or mtime changes. A
// file that fails to parse keeps the last good list (and the error is returned with it).
//
// Formats (docs/inventory.md): YAML, either `hosts: [...]` (and `exclude: [...]`, patterns
// of host names that are never polled, for use with LDAP discovery) or a top-level list,
// where each host is a mapping (name, address, port, credentials, auth, share, dir, tags,
// globs, eventlog, eventlog_path) or a plain "name[:port]"; or a plain list, one "name[:port]" per line, '#'
// comments.
type FileInventory struct {
	path string

	mu      sync.Mutex
	size    int64
	mtime   time.Time
	hosts   []Host
	exclude []string
}

// InventoryFile is the content of an inventory file.
type InventoryFile struct {
	Hosts []Host
	// Exclude are host name patterns ('*', '?', '[a-z]'; case-insensitive, matched against
	// the whole name and its first label) removed from the combined list.
	Exclude []string
}

// NewFileInventory reads path once, failing on a bad file.
func NewFileInventory(path string) (*FileInventory, error) {
	inv := &FileInventory{path: path}
	if _, err := inv.Hosts(context.Background()); err != nil {
		return nil, err
	}
	return inv, nil
}

// Hosts implements Inventory.
func (inv *FileInventory) Hosts(ctx context.Context) ([]Host, error) {
	f, err := inv.Read()
	return f.Hosts, err
}

// Read returns the hosts and exclusions, re-reading the file when it changed; a bad edit
// keeps the last good content, returned with the error.
func (inv *FileInventory) Read() (InventoryFile, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	last := InventoryFile{Hosts: inv.hosts, Exclude: inv.exclude}
	fi, err := os.Stat(inv.path)
	if err != nil {
		return last, err
	}
	if inv.hosts != nil && fi.Size() == inv.size && fi.ModTime().Equal(inv.mtime) {
		return last, nil
	}
	b, err := os.ReadFile(inv.path)
	if err != nil {
		return last, err
	}
	f, _, err := parseInventory(b)
	if err != nil {
		return last, fmt.Errorf("%s: %w", inv.path, err)
	}
	if f.Hosts == nil {
		f.Hosts = []Host{}
	}
	inv.size, inv.mtime, inv.hosts, inv.exclude = fi.Size(), fi.ModTime(), f.Hosts, f.Exclude
	return f, nil
}

// ParseInventory parses an inventory file's hosts (see FileInventory for the formats). The
// error lists every mistake with its line (optcheck.Problems).
func ParseInventory(b []byte) ([]Host, error) {
	f, err := ParseInventoryFile(b)
	return f.Hosts, err
}

// ParseInventoryFile parses an inventory file (see FileInventory for the formats).
func ParseInventoryFile(b []byte) (InventoryFile, error) {
	f, _, err := parseInventory(b)
	if err != nil {
		return InventoryFile{}, err
	}
	return f, nil
}

// parseInventory returns the file's content and the line each host was on, or every
// problem found.
func parseInventory(b []byte) (InventoryFile, []int, error) {
	var f InventoryFile
	var hosts []Host
	var lines []int
	var ps optcheck.Problems
	if looksLikeYAML(b) {
		f, lines, ps = parseYAMLInventory(b)
		hosts = f.Hosts
	} else {
		sc := bufio.NewScanner(bytes.NewReader(b))
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			if line == "" {
				continue
			}
			h, err := parseHostWord(line)
			if err != nil {
				ps = append(ps, optcheck.Problem{Line: n, Msg: err.Error()})
				continue
			}
			hosts, lines = append(hosts, h), append(lines, n)
		}
		if err := sc.Err(); err != nil {
			ps = append(ps, optcheck.Problem{Msg: err.Error()})
		}
	}
	seen := map[string]int{}
	for i, h := range hosts {
		at := func(format string, a ...any) {
			ps = append(ps, optcheck.Problem{Line: lines[i], Msg: fmt.Sprintf(format, a...)})
		}
		if err := dumpshare.ValidateHost(h.Name); err != nil {
			at("%s", err)
		}
		k := strings.ToLower(h.Name)
		if first, dup := seen[k]; dup {
			at("host %q listed twice (first on line %d)", h.Name, first)
		} else {
			seen[k] = lines[i]
		}
		if h.Port < 0 || h.Port > 65535 {
			at("host %q: port %d out of range", h.Name, h.Port)
		}
		if err := smbauth.CheckAuth(h.Auth); err != nil {
			at("host %q: auth %s", h.Name, err)
		}
		if h.Share != "" && strings.ContainsAny(h.Share, `/\:`) {
			at("host %q: share %q: a share name, without slashes", h.Name, h.Share)
		}
		if h.Dir != "" {
			if err := checkGlob(h.Dir); err != nil || strings.ContainsAny(h.Dir, "*?[") {
				at("host %q: dir %q: a relative folder inside the share, '/'-separated, without '..'", h.Name, h.Dir)
			}
		}
		for _, g := range h.Globs {
			if err := checkGlob(g); err != nil {
				at("host %q: %s", h.Name, err)
			}
		}
		if h.EventLogPath != "" {
			if err := checkLogPath(h.EventLogPath); err != nil {
				at("host %q: eventlog_path %s", h.Name, err)
			}
		}
	}
	for _, p := range f.Exclude {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			ps = append(ps, optcheck.Problem{Msg: fmt.Sprintf("exclude %q: not a name pattern", p)})
		}
	}
	f.Hosts = hosts
	if len(ps) > 0 {
		return f, lines, ps
	}
	return f, lines, nil
}

func looksLikeYAML(b []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return strings.HasPrefix(l, "hosts:") || strings.HasPrefix(l, "exclude:") || strings.HasPrefix(l, "- ") || l == "---"
	}
	return false
}

// parseHostWord reads "name", "name:port" or "[v6]:port" (name then defaults to the address).
func parseHostWord(s string) (Host, error) {
	if strings.ContainsAny(s, " \t") {
		return Host{}, fmt.Errorf("%q: one host per line", s)
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return Host{Name: s}, nil
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return Host{}, fmt.Errorf("%q: bad port", s)
	}
	return Host{Name: h, Port: port}, nil
}

var hostFields = map[string]bool{"name": true, "address": true, "port": true, "credentials": true,
	"auth": true, "share": true, "dir": true, "tags": true, "globs": true, "eventlog": true, "eventlog_path": true}

const hostFieldList = "name, address, port, credentials, auth, share, dir, tags, globs, eventlog, eventlog_path"

func parseYAMLInventory(b []byte) (InventoryFile, []int, optcheck.Problems) {
	var f InventoryFile
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return f, nil, optcheck.Problems{yamlProblem(err)}
	}
	if len(doc.Content) == 0 {
		return f, nil, nil
	}
	var ps optcheck.Problems
	root := doc.Content[0]
	list := root
	if root.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(root.Content); i += 2 {
			switch k, v := root.Content[i], root.Content[i+1]; k.Value {
			case "hosts":
				list = v
			case "exclude":
				if err := v.Decode(&f.Exclude); err != nil {
					ps = append(ps, optcheck.Problem{Line: v.Line, Msg: "exclude must be a list of name patterns"})
				}
			default:
				ps = append(ps, optcheck.Problem{Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want hosts or exclude)", k.Value)})
			}
		}
		if list == nil {
			return f, nil, ps
		}
	}
	if list.Kind != yaml.SequenceNode {
		return f, nil, append(ps, optcheck.Problem{Line: list.Line, Msg: "hosts must be a list"})
	}
	hosts := make([]Host, 0, len(list.Content))
	lines := make([]int, 0, len(list.Content))
	for _, n := range list.Content {
		switch n.Kind {
		case yaml.ScalarNode:
			h, err := parseHostWord(n.Value)
			if err != nil {
				ps = append(ps, optcheck.Problem{Line: n.Line, Msg: err.Error()})
				continue
			}
			hosts, lines = append(hosts, h), append(lines, n.Line)
		case yaml.MappingNode:
			bad := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; !hostFields[k.Value] {
					ps = append(ps, optcheck.Problem{Line: k.Line, Msg: fmt.Sprintf("unknown host field %q (want %s)", k.Value, hostFieldList)})
					bad = true
				}
			}
			var h Host
			if err := n.Decode(&h); err != nil {
				ps = append(ps, yamlProblem(err))
				continue
			}
			if h.Name == "" {
				ps = append(ps, optcheck.Problem{Line: n.Line, Msg: "host without a name"})
				continue
			}
			if !bad {
				hosts, lines = append(hosts, h), append(lines, n.Line)
			}
		default:
			ps = append(ps, optcheck.Problem{Line: n.Line, Msg: "a host must be a name or a mapping"})
		}
	}
	f.Hosts = hosts
	return f, lines, ps
}

// yamlProblem turns a YAML library error ("yaml: line 3: ...") into a problem at that line.
func yamlProblem(err error) optcheck.Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	return optcheck.Problem{Line: line, Msg: msg}
}

// CombinedInventory is the hosts of a discovering inventory (LDAP) merged with an inventory
// file: a file host replaces a discovered host of the same name (case-insensitive), the
// file's other hosts are added, and hosts matching the file's exclude patterns are dropped.
// Each part keeps its last good list when a read fails; the error is returned with the
// merged list.
type CombinedInventory struct {
	Discovered Inventory
	File       *FileInventory // nil: discovered hosts only
}

// Hosts implements Inventory.
func (c *CombinedInventory) Hosts(ctx context.Context) ([]Host, error) {
	disc, derr := c.Discovered.Hosts(ctx)
	var f InventoryFile
	var ferr error
	if c.File != nil {
		f, ferr = c.File.Read()
	}
	return Merge(disc, f), errors.Join(derr, ferr)
}

// Merge combines discovered hosts with an inventory file's (see CombinedInventory).
func Merge(discovered []Host, f InventoryFile) []Host {
	byName := map[string]int{}
	out := make([]Host, 0, len(discovered)+len(f.Hosts))
	for _, h := range discovered {
		byName[strings.ToLower(h.Name)] = len(out)
		out = append(out, h)
	}
	for _, h := range f.Hosts {
		if i, ok := byName[strings.ToLower(h.Name)]; ok {
			out[i] = h
			continue
		}
		byName[strings.ToLower(h.Name)] = len(out)
		out = append(out, h)
	}
	kept := out[:0]
	for _, h := range out {
		if !Excluded(h.Name, f.Exclude) {
			kept = append(kept, h)
		}
	}
	return kept
}

// Excluded says whether name matches one of the patterns, as a whole or by its first label
// (so "srv03" excludes srv03.corp.example).
func Excluded(name string, patterns []string) bool {
	name = strings.ToLower(name)
	short, _, _ := strings.Cut(name, ".")
	for _, p := range patterns {
		p = strings.ToLower(p)
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		if ok, _ := path.Match(p, short); ok {
			return true
		}
	}
	return false
}
