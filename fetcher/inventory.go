package fetcher

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/dumpshare"
)

// FileInventory reads hosts from a file and re-reads it when its size or mtime changes. A
// file that fails to parse keeps the last good list (and the error is returned with it).
//
// Formats: YAML, either `hosts: [...]` or a top-level list, where each host is a mapping
// (name, address, port, credentials, share, dir, tags, globs) or a plain "name[:port]"; or a
// plain list, one "name[:port]" per line, '#' comments.
type FileInventory struct {
	path string

	mu    sync.Mutex
	size  int64
	mtime time.Time
	hosts []Host
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
	inv.mu.Lock()
	defer inv.mu.Unlock()
	fi, err := os.Stat(inv.path)
	if err != nil {
		return inv.hosts, fmt.Errorf("inventory: %w", err)
	}
	if inv.hosts != nil && fi.Size() == inv.size && fi.ModTime().Equal(inv.mtime) {
		return inv.hosts, nil
	}
	b, err := os.ReadFile(inv.path)
	if err != nil {
		return inv.hosts, fmt.Errorf("inventory: %w", err)
	}
	hosts, err := ParseInventory(b)
	if err != nil {
		return inv.hosts, fmt.Errorf("inventory %s: %w", inv.path, err)
	}
	inv.size, inv.mtime, inv.hosts = fi.Size(), fi.ModTime(), hosts
	return hosts, nil
}

// ParseInventory parses an inventory file (see FileInventory for the formats).
func ParseInventory(b []byte) ([]Host, error) {
	var hosts []Host
	if looksLikeYAML(b) {
		var err error
		if hosts, err = parseYAMLInventory(b); err != nil {
			return nil, err
		}
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
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			hosts = append(hosts, h)
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for i, h := range hosts {
		if err := dumpshare.ValidateHost(h.Name); err != nil {
			return nil, fmt.Errorf("host %d: %w", i+1, err)
		}
		k := strings.ToLower(h.Name)
		if seen[k] {
			return nil, fmt.Errorf("host %q listed twice", h.Name)
		}
		seen[k] = true
		if h.Port < 0 || h.Port > 65535 {
			return nil, fmt.Errorf("host %q: port %d out of range", h.Name, h.Port)
		}
		for _, g := range h.Globs {
			if err := checkGlob(g); err != nil {
				return nil, fmt.Errorf("host %q: %w", h.Name, err)
			}
		}
	}
	return hosts, nil
}

func looksLikeYAML(b []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return strings.HasPrefix(l, "hosts:") || strings.HasPrefix(l, "- ") || l == "---"
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
	"share": true, "dir": true, "tags": true, "globs": true}

func parseYAMLInventory(b []byte) ([]Host, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	list := root
	if root.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(root.Content); i += 2 {
			if k := root.Content[i]; k.Value != "hosts" {
				return nil, fmt.Errorf("line %d: unknown key %q (want hosts)", k.Line, k.Value)
			}
			list = root.Content[i+1]
		}
		if list == nil {
			return nil, nil
		}
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: hosts must be a list", list.Line)
	}
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
