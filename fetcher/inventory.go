package fetcher

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
)

// FileInventory reads hosts from a file and re-reads it when its size or mtime changes. A
// file that fails to parse keeps the last good list (and the error is returned with it).
//
// Formats: YAML, either `hosts: [...]` or a top-level list, where each host is a mapping
// (name, address, port, credentials, share, dir, tags, globs, eventlog, eventlog_path) or a
// plain "name[:port]"; or a plain list, one "name[:port]" per line, '#' comments.
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
		return inv.hosts, err
	}
	if inv.hosts != nil && fi.Size() == inv.size && fi.ModTime().Equal(inv.mtime) {
		return inv.hosts, nil
	}
	b, err := os.ReadFile(inv.path)
	if err != nil {
		return inv.hosts, err
	}
	hosts, err := ParseInventory(b)
	if err != nil {
		return inv.hosts, fmt.Errorf("%s: %w", inv.path, err)
	}
	inv.size, inv.mtime, inv.hosts = fi.Size(), fi.ModTime(), hosts
	return hosts, nil
}

// ParseInventory parses an inventory file (see FileInventory for the formats). The error
// lists every mistake with its line (optcheck.Problems).
func ParseInventory(b []byte) ([]Host, error) {
	hosts, _, err := parseInventory(b)
	if err != nil {
		return nil, err
	}
	return hosts, nil
}

// parseInventory returns the hosts and the line each was on, or every problem found.
func parseInventory(b []byte) ([]Host, []int, error) {
	var hosts []Host
	var lines []int
	var ps optcheck.Problems
	if looksLikeYAML(b) {
		hosts, lines, ps = parseYAMLInventory(b)
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
	if len(ps) > 0 {
		return hosts, lines, ps
	}
	return hosts, lines, nil
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
	"share": true, "dir": true, "tags": true, "globs": true, "eventlog": true, "eventlog_path": true}

const hostFieldList = "name, address, port, credentials, share, dir, tags, globs, eventlog, eventlog_path"

func parseYAMLInventory(b []byte) ([]Host, []int, optcheck.Problems) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, optcheck.Problems{yamlProblem(err)}
	}
	if len(doc.Content) == 0 {
		return nil, nil, nil
	}
	var ps optcheck.Problems
	root := doc.Content[0]
	list := root
	if root.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(root.Content); i += 2 {
			if k := root.Content[i]; k.Value != "hosts" {
				ps = append(ps, optcheck.Problem{Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want hosts)", k.Value)})
				continue
			}
			list = root.Content[i+1]
		}
		if list == nil {
			return nil, nil, ps
		}
	}
	if list.Kind != yaml.SequenceNode {
		return nil, nil, append(ps, optcheck.Problem{Line: list.Line, Msg: "hosts must be a list"})
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
	return hosts, lines, ps
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
