// Package config reads bsodwatch's one configuration file, shared by every role: strict YAML
// (an unknown key is an error, reported as file:line), defaults applied, relative paths
// resolved against the file's directory, and secrets read from files or the environment.
// docs/config.md lists every key with its default; a test keeps it in step with the structs.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Config is the whole file. Each role reads its own section; `bsodwatch run` reads them all.
type Config struct {
	// DataDir holds the all-in-one mode's state: the embedded NATS store, the local fleet
	// and dump share, and rules. Default: $XDG_DATA_HOME/bsodwatch or
	// ~/.local/share/bsodwatch (%ProgramData%\bsodwatch on Windows).
	DataDir string `yaml:"data_dir"`
	// NATS is the queue connection, and the all-in-one mode's embedded server.
	NATS NATS `yaml:"nats"`
	// Share is the dump share the fetcher copies dumps to (dir or smb). Default: the
	// directory <data_dir>/share.
	Share dumpshare.Options `yaml:"share"`
	// Fetcher finds and copies dumps.
	Fetcher fetcher.Options `yaml:"fetcher"`
	// Analyzer runs cdb or the native engine on queued dumps.
	Analyzer analyzer.Options `yaml:"analyzer"`
	// Notifier posts verdicts to chat.
	Notifier notifier.Options `yaml:"notifier"`
	// History marks new buckets, regressions and crash loops.
	History history.Options `yaml:"history"`
	// Metrics serves /metrics and /healthz.
	Metrics ops.Options `yaml:"metrics"`

	// Path is the file the configuration came from ("" for built-in defaults).
	Path string `yaml:"-"`
}

// NATS is the queue section: how separate roles connect, and how `run` serves.
type NATS struct {
	pipeline.NATSOptions `yaml:",inline"`
	// Embedded is the server `bsodwatch run` starts when urls is empty.
	Embedded Embedded `yaml:"embedded"`
}

// Embedded configures the all-in-one mode's in-process NATS server.
type Embedded struct {
	// Listen also serves NATS on this TCP address (e.g. 127.0.0.1:4222) so that separate
	// fetch/analyze/notify processes can join; clients must then present nats.user/password
	// or nats.token when set. Default: "" (in-process only).
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
	return &d
}

// Error is one problem in a configuration file, with the line it is on when known.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Msg
	}
	return e.Msg
}

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

// Load reads and checks the file at path. Errors are of type Errors, each naming a line.
func Load(path string, getenv func(string) string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: errMsg(err)}}
	}
	return Parse(path, b, getenv)
}

// errMsg drops the path that *fs.PathError repeats.
func errMsg(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// Parse decodes b, which came from path (used for messages and to resolve relative paths).
func Parse(path string, b []byte, getenv func(string) string) (*Config, error) {
	c := preset(path)
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, yamlErrors(path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlErrors(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: path, Line: extra.Line, Msg: "only one YAML document is allowed"}}
	}
	c.applyDefaults(getenv)
	c.resolvePaths(filepath.Dir(path))
	if errs := c.validate(); len(errs) > 0 {
		for i := range errs {
			errs[i].File = path
			if errs[i].Line == 0 {
				errs[i].Line = lineOf(&root, errs[i].key)
			}
		}
		return nil, errs.plain()
	}
	return c, nil
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

// keyedError is a validation problem with the dotted key it is about.
type keyedError struct {
	Error
	key string
}

type keyedErrors []keyedError

func (ks keyedErrors) plain() Errors {
	es := make(Errors, len(ks))
	for i, k := range ks {
		es[i] = k.Error
	}
	return es
}

func (c *Config) validate() keyedErrors {
	var errs keyedErrors
	add := func(key string, err error) {
		if err != nil {
			errs = append(errs, keyedError{Error: Error{Msg: key + ": " + err.Error()}, key: key})
		}
	}
	add("nats", c.NATS.Resolve())
	if c.NATS.Embedded.Listen != "" {
		if err := checkListen(c.NATS.Embedded.Listen); err != nil {
			add("nats.embedded.listen", err)
		}
	}
	if c.Metrics.Listen != "" {
		if err := checkListen(c.Metrics.Listen); err != nil {
			add("metrics.listen", err)
		}
	}
	if smb := c.Share.SMB; smb != nil {
		if c.Share.Dir != "" {
			add("share", errors.New("set dir or smb, not both"))
		}
		if smb.Addr == "" || smb.Share == "" {
			add("share.smb", errors.New("addr and share are required"))
		}
		if _, err := secret.Load("", smb.PasswordFile, smb.PasswordEnv); err != nil {
			add("share.smb", err)
		}
	}
	if c.Fetcher.Inventory != "" && c.Fetcher.FleetDir != "" {
		add("fetcher", errors.New("set inventory or fleet_dir, not both"))
	}
	d := c.RoleDefaults()
	for _, s := range []struct {
		key string
		v   any
	}{{"analyzer", d.Analyzer}, {"notifier", d.Notifier}, {"history", d.History}} {
		if v, ok := s.v.(interface{ Validate() error }); ok {
			add(s.key, v.Validate())
		}
	}
	for name, cr := range c.Fetcher.Credentials {
		if _, err := cr.Resolve(); err != nil {
			add("fetcher.credentials."+name, err)
		}
	}
	return errs
}

// checkListen checks a listen address the way net.Listen and the embedded server parse it.
func checkListen(addr string) error {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: want host:port", addr)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	return nil
}

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

// lineOf finds the line of a dotted key ("nats.tls.ca_file") in the document, or of its
// nearest ancestor present.
func lineOf(root *yaml.Node, key string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(key, ".") {
		if n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line, next = n.Content[i].Line, n.Content[i+1]
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
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
