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
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
)

// FileInventory reads hosts from a file and re-reads it when its size or mtime changes. A
// file that fails to parse keeps the last good list (and the error is returned with it).
//
// Formats (docs/inventory.md): YAML, either `hosts: [...]` (and `exclude: [...]`, patterns
// of host names that are never polled, for use with LDAP discovery) or a top-level list,
// where each host is a mapping (name, address, port, credentials, auth, share, dir, tags,
// globs) or a plain "name[:port]"; or a plain list, one "name[:port]" per line, '#'
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

// Read returns the hosts and exclusions, re-reading the file when it changed.
func (inv *FileInventory) Read() (InventoryFile, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	last := InventoryFile{Hosts: inv.hosts, Exclude: inv.exclude}
	fi, err := os.Stat(inv.path)
	if err != nil {
		return last, fmt.Errorf("inventory: %w", err)
	}
	if inv.hosts != nil && fi.Size() == inv.size && fi.ModTime().Equal(inv.mtime) {
		return last, nil
	}
	b, err := os.ReadFile(inv.path)
	if err != nil {
		return last, fmt.Errorf("inventory: %w", err)
	}
	f, err := ParseInventoryFile(b)
	if err != nil {
		return last, fmt.Errorf("inventory %s: %w", inv.path, err)
	}
	if f.Hosts == nil {
		f.Hosts = []Host{}
	}
	inv.size, inv.mtime, inv.hosts, inv.exclude = fi.Size(), fi.ModTime(), f.Hosts, f.Exclude
	return f, nil
}

// ParseInventory parses an inventory file's hosts (see FileInventory for the formats).
func ParseInventory(b []byte) ([]Host, error) {
	f, err := ParseInventoryFile(b)
	return f.Hosts, err
}

// ParseInventoryFile parses an inventory file (see FileInventory for the formats).
func ParseInventoryFile(b []byte) (InventoryFile, error) {
	var f InventoryFile
	var err error
	if looksLikeYAML(b) {
		if f, err = parseYAMLInventory(b); err != nil {
			return InventoryFile{}, err
		}
	} else {
		f.Hosts, err = parseLines(b)
		if err != nil {
			return InventoryFile{}, err
		}
	}
	if err := checkHosts(f.Hosts); err != nil {
		return InventoryFile{}, err
	}
	for _, p := range f.Exclude {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return InventoryFile{}, fmt.Errorf("exclude %q: not a name pattern", p)
		}
	}
	return f, nil
}

func parseLines(b []byte) ([]Host, error) {
	var hosts []Host
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
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, sc.Err()
}

func checkHosts(hosts []Host) error {
	seen := map[string]bool{}
	for i, h := range hosts {
		if err := dumpshare.ValidateHost(h.Name); err != nil {
			return fmt.Errorf("host %d: %w", i+1, err)
		}
		k := strings.ToLower(h.Name)
		if seen[k] {
			return fmt.Errorf("host %q listed twice", h.Name)
		}
		seen[k] = true
		if h.Port < 0 || h.Port > 65535 {
			return fmt.Errorf("host %q: port %d out of range", h.Name, h.Port)
		}
		if err := smbauth.CheckAuth(h.Auth); err != nil {
			return fmt.Errorf("host %q: auth %w", h.Name, err)
		}
		for _, g := range h.Globs {
			if err := checkGlob(g); err != nil {
				return fmt.Errorf("host %q: %w", h.Name, err)
			}
		}
	}
	return nil
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
	"auth": true, "share": true, "dir": true, "tags": true, "globs": true}

func parseYAMLInventory(b []byte) (InventoryFile, error) {
	var doc yaml.Node
	var f InventoryFile
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return f, err
	}
	if len(doc.Content) == 0 {
		return f, nil
	}
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
					return f, fmt.Errorf("line %d: exclude must be a list of name patterns", v.Line)
				}
			default:
				return f, fmt.Errorf("line %d: unknown key %q (want hosts or exclude)", k.Line, k.Value)
			}
		}
		if list == nil {
			return f, nil
		}
	}
	if list.Kind != yaml.SequenceNode {
		return f, fmt.Errorf("line %d: hosts must be a list", list.Line)
	}
	var err error
	f.Hosts, err = yamlHosts(list)
	return f, err
}

func yamlHosts(list *yaml.Node) ([]Host, error) {
	hosts := make([]Host, 0, len(list.Content))
	for _, n := range list.Content {
		switch n.Kind {
		case yaml.ScalarNode:
			h, err := parseHostWord(n.Value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			hosts = append(hosts, h)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; !hostFields[k.Value] {
					return nil, fmt.Errorf("line %d: unknown host field %q", k.Line, k.Value)
				}
			}
			var h Host
			if err := n.Decode(&h); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			if h.Name == "" {
				return nil, fmt.Errorf("line %d: host without a name", n.Line)
			}
			hosts = append(hosts, h)
		default:
			return nil, errors.New("a host must be a name or a mapping")
		}
	}
	return hosts, nil
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
