// Package config reads bsodwatch's one configuration file, shared by every role: strict YAML
// (an unknown key is an error, reported as file:line), defaults applied, relative paths
// resolved against the file's directory, and secrets read from files or the environment.
// docs/config.md lists every key with its default; a test keeps it in step with the structs.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/retention"
	"github.com/bsodwatch/bsodwatch/web"
)

// Config is the whole file. Each role reads its own section; `bsodwatch run` reads them all.
type Config struct {
	// DataDir holds the all-in-one mode's state: the embedded NATS store, the local fleet
	// and dump share, and rules. Default: $XDG_DATA_HOME/bsodwatch or
	// ~/.local/share/bsodwatch (%ProgramData%\bsodwatch on Windows).
	DataDir string `yaml:"data_dir"`
	// NATS is the queue connection, and the all-in-one mode's embedded server.
	NATS NATS `yaml:"nats"`
	// Share is the dump share the fetcher copies dumps to (dir or smb), its free-space
	// floor, compression and retention. Default: the directory <data_dir>/share.
	Share Share `yaml:"share"`
	// Fetcher finds and copies dumps.
	Fetcher fetcher.Options `yaml:"fetcher"`
	// Analyzer runs cdb or the native engine on queued dumps.
	Analyzer analyzer.Options `yaml:"analyzer"`
	// Notifier posts verdicts to chat.
	Notifier notifier.Options `yaml:"notifier"`
	// History marks new buckets, regressions and crash loops.
	History history.Options `yaml:"history"`
	// Metrics serves /metrics and /healthz, and the web console beside them.
	Metrics ops.Options `yaml:"metrics"`
	// Web is the web console and HTTP API (the web role), served on metrics.listen.
	Web web.Options `yaml:"web"`

	// Path is the file the configuration came from ("" for built-in defaults).
	Path string `yaml:"-"`
	// root is the file's YAML, to place problems at their lines.
	root *yaml.Node
}

// Share is the dump share section: where dumps are kept, and for how long.
type Share struct {
	dumpshare.Options `yaml:",inline"`
	// Retention removes the dumps the policy no longer keeps (run by the pruner role of
	// `bsodwatch run`, and by `bsodwatch share prune`); their verdicts are kept, marked
	// "dump pruned" (pruned_at).
	Retention retention.Options `yaml:"retention"`
}

// Validate reports every problem with the section (optcheck.Problems keyed like the YAML).
func (s Share) Validate() error {
	var ps optcheck.Problems
	ps.Add("", s.Options.Validate())
	ps.Add("retention", s.Retention.Validate())
	return ps.Err()
}

// NATS is the queue section: how separate roles connect, and how `run` serves.
type NATS struct {
	pipeline.NATSOptions `yaml:",inline"`
	// Embedded is the server `bsodwatch run` starts when urls is empty.
	Embedded Embedded `yaml:"embedded"`
}

// Embedded configures the all-in-one mode's in-process NATS server.
type Embedded struct {
	// Listen serves NATS on this TCP address (e.g. 0.0.0.0:4222) so that separate
	// fetch/analyze/notify processes on other machines can join; clients must then present
	// nats.user/password or nats.token when set. Default: "": a free loopback port, with a
	// token made up at each start unless nats.user or nats.token is set, both written to
	// <store_dir>/client.json (readable by its owner only) so that results, submit and
	// reanalyze on this machine reach the server with no flags.
	Listen string `yaml:"listen"`
	// StoreDir is where JetStream keeps its files. Default: <data_dir>/nats.
	StoreDir string `yaml:"store_dir"`
}

// StoreDir is the embedded server's JetStream directory.
func (c *Config) StoreDir() string {
	if c.NATS.Embedded.StoreDir != "" {
		return c.NATS.Embedded.StoreDir
	}
	return filepath.Join(c.DataDir, "nats")
}

// ShareDir is the local dump share directory, or "" when the share is on SMB.
func (c *Config) ShareDir() string {
	switch {
	case c.Share.Dir != "":
		return c.Share.Dir
	case c.Share.SMB != nil:
		return ""
	}
	return filepath.Join(c.DataDir, "share")
}

// FleetDir is the all-in-one mode's local fleet: the fetcher's source when it has no
// inventory.
func (c *Config) FleetDir() string {
	if c.Fetcher.FleetDir != "" {
		return c.Fetcher.FleetDir
	}
	return filepath.Join(c.DataDir, "fleet")
}

// RoleDefaults returns a copy with every role's own defaults filled in, as the roles apply
// them (for docs and checks; the roles apply them again themselves).
func (c *Config) RoleDefaults() *Config {
	d := *c
	d.Fetcher = d.Fetcher.WithDefaults()
	d.Analyzer = d.Analyzer.WithDefaults()
	if d.Analyzer.ShareDir == "" {
		d.Analyzer.ShareDir = d.ShareDir()
	}
	d.History = d.History.WithDefaults()
	d.Notifier = d.Notifier.WithDefaults()
	d.Share.Retention = d.Share.Retention.WithDefaults()
	return &d
}

// Error is one problem in a configuration file, with the line (and column) it is on when
// known: a keyed problem placed at its file:line (Place), printed as file:line: message.
type Error = optcheck.Problem

// Errors are all the problems found in one file.
type Errors []Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Default returns the configuration used without a file: every default, data_dir from the
// environment (getenv may be nil for os.Getenv).
func Default(getenv func(string) string) *Config {
	c := preset("")
	c.applyDefaults(getenv)
	return c
}

// preset holds the defaults that an explicit empty value may override (an empty
// metrics.listen turns the server off), so they are set before decoding.
func preset(path string) *Config {
	return &Config{Path: path, Metrics: ops.Options{Listen: ops.DefaultListen}}
}

// DefaultDataDir is where the all-in-one mode keeps its state when nothing else is said.
func DefaultDataDir(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if runtime.GOOS == "windows" {
		if pd := getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "bsodwatch")
		}
		return `C:\ProgramData\bsodwatch`
	}
	if x := getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "bsodwatch")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "bsodwatch")
	}
	return filepath.Join(os.TempDir(), "bsodwatch")
}

// Load reads and checks the file at path (Parse). Errors are of type Errors, each naming a
// line.
func Load(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: errMsg(err)}}
	}
	return Parse(path, b, getenv)
}

// Read reads the file at path without the sections' checks (Decode).
func Read(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: errMsg(err)}}
	}
	return Decode(path, b, getenv)
}

// errMsg drops the path that *fs.PathError repeats.
func errMsg(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// Parse decodes b, which came from path (used for messages and to resolve relative paths),
// and runs every section's checks (Check). Every mistake is reported at once: unknown keys
// and wrong types found while decoding, and whatever the checks find, each at the line of
// the key it is about. Only a YAML syntax error stops before the checks. This is
// `bsodwatch config check`.
func Parse(path string, b []byte, getenv func(string) string) (*Config, error) {
	c, errs := decode(path, b, getenv)
	if c == nil {
		return nil, errs
	}
	if err := c.Check(); err != nil {
		errs = append(errs, err.(Errors)...)
	}
	if len(errs) > 0 {
		errs.sort(path)
		return nil, errs
	}
	return c, nil
}

// Decode reads the file like Parse but runs none of the sections' checks: commands decode,
// lay their flags over the file, and then the roles check what they will run with (the
// same checks, placed at the file's lines by Place), so a flag can replace a value the file
// gets wrong.
func Decode(path string, b []byte, getenv func(string) string) (*Config, error) {
	c, errs := decode(path, b, getenv)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// decode returns the configuration (nil after a syntax error) and the decoding errors.
func decode(path string, b []byte, getenv func(string) string) (*Config, Errors) {
	c := preset(path)
	c.root = &yaml.Node{}
	if err := yaml.Unmarshal(b, c.root); err != nil {
		es := yamlErrors(path, err)
		if len(es) == 1 {
			es[0].Line = syntaxLine(b, es[0])
		}
		return nil, es
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var errs Errors
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, yamlErrors(path, err)
		}
		// A type error leaves the rest decoded: carry on, so the checks' findings come too.
		errs = yamlErrors(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: path, Line: extra.Line, Msg: "only one YAML document is allowed"}}
	}
	c.applyDefaults(getenv)
	c.resolvePaths(filepath.Dir(path))
	return c, errs
}

// Check runs every section's own checks (the same ones the roles run at start) and returns
// what they found as Errors at the lines of their keys, or nil.
func (c *Config) Check() error {
	if err := c.problems().Err(); err != nil {
		return c.Place(err)
	}
	return nil
}

// Place turns keyed problems (optcheck.Problems, keyed from the top of the file) into Errors
// at the file's lines, so that a role's refusal reads like `config check`'s. Without a file
// (built-in defaults) it returns err as it is.
func (c *Config) Place(err error) error {
	ps := optcheck.Of(err)
	if c.Path == "" || len(ps) == 0 {
		return err
	}
	var errs Errors
	for _, p := range ps {
		e := Error{File: c.Path, Msg: p.Error()}
		if p.File != "" {
			// a mistake inside another file the config names (inventory, rules): there
			e = Error{File: p.File, Line: p.Line, Column: p.Column, Msg: p.Msg}
		} else if c.root != nil {
			e.Line = lineOf(c.root, p.Key)
		}
		errs = append(errs, e)
	}
	errs.sort(c.Path)
	return errs
}

// applyDefaults fills what the file left out.
func (c *Config) applyDefaults(getenv func(string) string) {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir(getenv)
	}
	if c.NATS.Replicas <= 0 {
		c.NATS.Replicas = 1
	}
	if len(c.Notifier.Targets) == 0 {
		// Out of the box, verdicts are printed; a file that names targets replaces this.
		c.Notifier.Targets = []notifier.TargetOptions{{Name: "console", Type: notifier.TypeConsole}}
	}
}

// problems runs every section's own checks (the same ones the roles run at start) and
// returns what they found, keyed from the top of the file.
func (c *Config) problems() optcheck.Problems {
	var ps optcheck.Problems
	ps.Add("nats", c.NATS.Resolve())
	if c.NATS.Embedded.Listen != "" {
		if err := ops.CheckListen(c.NATS.Embedded.Listen); err != nil {
			ps.Addf("nats.embedded.listen", "%s", err)
		}
	}
	ps.Add("metrics", c.Metrics.Validate())
	ps.Add("share", c.Share.Validate())
	ps.Add("fetcher", c.Fetcher.Validate())
	d := c.RoleDefaults()
	ps.Add("analyzer", d.Analyzer.Validate())
	ps.Add("notifier", d.Notifier.Validate())
	ps.Add("history", c.History.Validate())
	ps.Add("web", c.Web.Validate())
	return ps
}

// sort orders the problems by file (this one first) and line, so they read top to bottom.
func (es Errors) sort(path string) {
	slices.SortStableFunc(es, func(a, b Error) int {
		if (a.File == path) != (b.File == path) {
			if a.File == path {
				return -1
			}
			return 1
		}
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// checkListen checks a listen address.
var checkListen = ops.CheckListen

// lineRE finds "line N: message" in the YAML library's errors.
var lineRE = regexp.MustCompile(`^\s*(?:yaml: )?line (\d+): (.*)$`)

// yamlErrors turns the YAML library's errors into file:line ones, with the library's type
// names turned into the words a person editing the file would use.
func yamlErrors(path string, err error) Errors {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{err.Error()}
	}
	var es Errors
	for _, l := range lines {
		e := Error{File: path, Msg: strings.TrimPrefix(l, "yaml: ")}
		if m := lineRE.FindStringSubmatch(l); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		e.Msg = friendlier(e.Msg)
		es = append(es, e)
	}
	return es
}

// syntaxLine finds the line a YAML syntax error is really on. The YAML library reports the
// line where the enclosing construct began (a key whose value holds the mistake, a flow list
// that is never closed), which sends a person to the line above. The first prefix of the
// file that fails with the same message ends at the line at fault.
func syntaxLine(b []byte, e Error) int {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) > 2000 {
		return e.Line // not worth the quadratic search
	}
	for k := max(e.Line, 1); k <= len(lines); k++ {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if err == nil {
			continue
		}
		if es := yamlErrors("", err); len(es) == 1 && es[0].Msg == e.Msg {
			return k
		}
	}
	return e.Line
}

var (
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	typeRE    = regexp.MustCompile("^cannot unmarshal !!(\\w+) `?(.*?)`? into (\\S+)$")
)

func friendlier(msg string) string {
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q (see docs/config.md)", m[1])
	}
	if m := typeRE.FindStringSubmatch(msg); m != nil {
		want := m[3]
		switch {
		case strings.HasSuffix(want, "time.Duration"):
			want = "a duration such as 30s or 5m"
		case strings.HasPrefix(want, "[]"):
			want = "a list"
		case strings.HasPrefix(want, "map["), strings.Contains(want, "."):
			want = "a mapping of keys"
		case want == "int" || strings.HasPrefix(want, "int") || strings.HasPrefix(want, "uint"):
			want = "a whole number"
		case want == "bool":
			want = "true or false"
		}
		return fmt.Sprintf("cannot use %s %q here: want %s", m[1], m[2], want)
	}
	return msg
}

// lineOf finds the line of a dotted key ("nats.tls.ca_file", "notifier.targets[1].url_file")
// in the document: the key's own line, or its nearest ancestor's when the key is absent.
func lineOf(root *yaml.Node, key string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range keyParts(key) {
		var next *yaml.Node
		switch {
		case strings.HasPrefix(part, "["):
			i, err := strconv.Atoi(strings.Trim(part, "[]"))
			if n.Kind == yaml.SequenceNode && err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line, next = n.Content[i].Line, n.Content[i+1]
				}
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// keyParts splits "a.b[2].c" into "a", "b", "[2]", "c". Map keys with dots in them (the
// credential names of fetcher.credentials) cannot be told apart, which only costs a line.
func keyParts(key string) []string {
	var parts []string
	for _, p := range strings.Split(key, ".") {
		for {
			i := strings.IndexByte(p, '[')
			if i < 0 {
				break
			}
			if i > 0 {
				parts = append(parts, p[:i])
			}
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				break
			}
			parts = append(parts, p[i:i+j+1])
			p = p[i+j+1:]
		}
		if p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

// resolvePaths makes relative file and directory options relative to the config file's
// directory, so that a file means the same wherever the process is started from. Paths
// are recognised by their key: *_file, *_dir, *_dirs, dir.
func (c *Config) resolvePaths(base string) {
	if base == "" || base == "." {
		if wd, err := os.Getwd(); err == nil {
			base = wd
		}
	}
	fix := func(s string) string {
		// os.IsPathSeparator(s[0]): on Windows \srv\dumps and /file/rules start at the root of
		// the current drive (filepath.IsAbs says no: there is no drive letter), so they are no
		// more relative to the config file's folder than C:\srv\dumps is.
		if s == "" || filepath.IsAbs(s) || os.IsPathSeparator(s[0]) || strings.HasPrefix(s, `\\`) ||
			strings.Contains(s, "://") || strings.HasPrefix(s, "~") {
			return s
		}
		return filepath.Join(base, s)
	}
	walkPaths(reflect.ValueOf(c).Elem(), fix)
	c.Share.Dir = fix(c.Share.Dir) // "dir" elsewhere (share.smb.dir) is inside a share
}

func isPathKey(tag string) bool {
	return tag == "inventory" || tag == "template" || tag == "data_dir" || strings.HasSuffix(tag, "_file") ||
		strings.HasSuffix(tag, "_dir") || strings.HasSuffix(tag, "_dirs") || strings.HasSuffix(tag, "_files")
}

func walkPaths(v reflect.Value, fix func(string) string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkPaths(v.Elem(), fix)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkPaths(v.Index(i), fix)
		}
	case reflect.Map:
		// Map elements are not addressable: fix a copy and put it back.
		if v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			walkPaths(e, fix)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			fv := v.Field(i)
			switch {
			case isPathKey(name) && fv.Kind() == reflect.String && fv.CanSet():
				fv.SetString(fix(fv.String()))
			case isPathKey(name) && fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
				for j := range fv.Len() {
					fv.Index(j).SetString(fix(fv.Index(j).String()))
				}
			default:
				walkPaths(fv, fix)
			}
		}
	}
}
