package config

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the option structs")

const modulePath = "github.com/bsodwatch/bsodwatch"

// TestDocs keeps docs/config.md in step with the option structs: every key, its type, its
// default and its doc comment. Run `go test ./config -run TestDocs -update` after changing
// an option.
func TestDocs(t *testing.T) {
	root := moduleRootDir(t)
	got := generateDocs(t, root)
	path := filepath.Join(root, "docs", "config.md")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run TestDocs -update)", err)
	}
	if string(want) != got {
		t.Errorf("docs/config.md is out of date with the option structs: run go test ./config -run TestDocs -update\n%s", firstDiff(string(want), got))
	}
}

// TestDocsExample checks that the example in docs/config.md is a valid file.
func TestDocsExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRootDir(t), "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/config.md has no yaml example")
	}
	dir := t.TempDir()
	t.Setenv("BSODWATCH_NATS_PASSWORD", "example")
	t.Setenv("BSODWATCH_SMB_PASSWORD", "example")
	t.Setenv("BSODWATCH_SLACK_URL", "https://hooks.slack.example/services/T0/B0/x")
	for _, f := range []string{"inventory.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("hosts: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Parse(filepath.Join(dir, "bsodwatch.yaml"), m[1], os.Getenv); err != nil {
		t.Fatalf("example does not load:\n%v", err)
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n file: %s\n want: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(al), len(bl))
}

func moduleRootDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// docRow is one key of the reference.
type docRow struct {
	key, typ, def, doc string
}

type docGen struct {
	t     *testing.T
	root  string
	pkgs  map[string]map[string]*ast.StructType // pkg path -> type name -> struct
	rows  []docRow
	ctype map[string]bool
}

func generateDocs(t *testing.T, root string) string {
	g := &docGen{t: t, root: root, pkgs: map[string]map[string]*ast.StructType{}}
	def := Default(func(k string) string {
		if k == "HOME" {
			return "~"
		}
		return ""
	})
	def = def.RoleDefaults()
	// Defaults that depend on the platform or data_dir are described in their comments.
	def.DataDir, def.Analyzer.ShareDir, def.Analyzer.Name = "", "", ""
	var b strings.Builder
	b.WriteString(docsIntro)
	v := reflect.ValueOf(def).Elem()
	ty := v.Type()
	for i := range ty.NumField() {
		f := ty.Field(i)
		name := yamlName(f)
		if name == "" || name == "-" {
			continue
		}
		g.rows = nil
		g.field(ty, f, v.Field(i), "")
		fmt.Fprintf(&b, "\n## `%s`\n\n%s\n\n| key | type | default | meaning |\n|---|---|---|---|\n", name, oneLine(g.comment(ty, f.Name)))
		for _, r := range g.rows {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.key, r.typ, r.def, r.doc)
		}
	}
	b.WriteString(docsExample)
	return b.String()
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func inline(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return strings.Contains(opts, "inline")
}

// field documents f (of struct type parent) with value v under prefix.
func (g *docGen) field(parent reflect.Type, f reflect.StructField, v reflect.Value, prefix string) {
	if !f.IsExported() || f.Tag.Get("yaml") == "-" {
		return
	}
	if inline(f) {
		g.fields(f.Type, v, prefix)
		return
	}
	key := prefix + yamlName(f)
	doc := oneLine(g.comment(parent, f.Name))
	ft := f.Type
	if ft.Kind() == reflect.Pointer && ft.Elem().Kind() != reflect.Struct { // an optional scalar (*bool)
		ft = ft.Elem()
		if v.IsNil() {
			v = reflect.New(ft).Elem()
		} else {
			v = v.Elem()
		}
	}
	if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
		ft = ft.Elem()
		if v.IsNil() {
			v = reflect.New(ft).Elem()
		} else {
			v = v.Elem()
		}
	}
	switch {
	case ft == reflect.TypeOf(time.Duration(0)):
	case ft.Kind() == reflect.Struct && !isScalarStruct(ft):
		g.fields(ft, v, key+".")
		return
	case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
		g.rows = append(g.rows, docRow{key, "list", defaultOf(v), doc})
		g.fields(ft.Elem(), reflect.New(ft.Elem()).Elem(), key+"[].")
		return
	case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
		g.rows = append(g.rows, docRow{key, "map", defaultOf(v), doc})
		g.fields(ft.Elem(), reflect.New(ft.Elem()).Elem(), key+".NAME.")
		return
	}
	g.rows = append(g.rows, docRow{key, typeName(ft), defaultOf(v), doc})
}

func (g *docGen) fields(t reflect.Type, v reflect.Value, prefix string) {
	for i := range t.NumField() {
		g.field(t, t.Field(i), v.Field(i), prefix)
	}
}

// isScalarStruct says whether a struct is written as one YAML scalar (a secret).
func isScalarStruct(t reflect.Type) bool {
	_, ok := reflect.New(t).Interface().(yaml.Unmarshaler)
	return ok
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	case t.Kind() == reflect.Struct:
		return "secret string"
	case t.Kind() == reflect.Int64 && reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()):
		return "size"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + typeName(t.Elem())
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	}
	return t.Kind().String()
}

func defaultOf(v reflect.Value) string {
	if !v.IsValid() || v.IsZero() {
		return "—"
	}
	return "`" + strings.ReplaceAll(compact(v), "|", `\|`) + "`"
}

// compact writes a value as short flow YAML, leaving out zero fields.
func compact(v reflect.Value) string {
	if d, ok := v.Interface().(time.Duration); ok {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	}
	switch v.Kind() {
	case reflect.Struct:
		var parts []string
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && !v.Field(i).IsZero() {
				parts = append(parts, yamlName(f)+": "+compact(v.Field(i)))
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = compact(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.String:
		if s := v.String(); s != strings.TrimSpace(s) || strings.ContainsAny(s, ":{}[],#") {
			return fmt.Sprintf("%q", s)
		}
	}
	return fmt.Sprint(v.Interface())
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// comment returns the doc comment of field name in struct type t, read from its source.
func (g *docGen) comment(t reflect.Type, name string) string {
	structs := g.pkg(t.PkgPath())
	st := structs[t.Name()]
	if st == nil {
		return ""
	}
	for i, f := range st.Fields.List {
		for _, n := range f.Names {
			if n.Name != name {
				continue
			}
			switch {
			case f.Doc != nil:
				return f.Doc.Text()
			case f.Comment != nil:
				return f.Comment.Text()
			case i > 0:
				return "(Documented with the key above.)" // a commented group of fields
			}
			return ""
		}
	}
	return ""
}

func (g *docGen) pkg(path string) map[string]*ast.StructType {
	if m, ok := g.pkgs[path]; ok {
		return m
	}
	m := map[string]*ast.StructType{}
	g.pkgs[path] = m
	if !strings.HasPrefix(path, modulePath) {
		return m
	}
	dir := filepath.Join(g.root, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(path, modulePath), "/")))
	fset := token.NewFileSet()
	matches, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	sort.Strings(matches)
	for _, file := range matches {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
		if err != nil {
			g.t.Fatalf("parse %s: %v", file, err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					m[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	return m
}

const docsIntro = `# Configuration reference

<!-- Generated from the option structs and their comments by
     go test ./config -run TestDocs -update
     Edit the comments in the Go source, not this file. -->

One YAML file configures every role: ` + "`bsodwatch run --config FILE`" + `, or each of
` + "`fetch`, `analyze`, `notify` with `--config FILE`" + ` reading only its own section. Check a file
with ` + "`bsodwatch config check --config FILE`" + `: it prints ` + "`OK`" + ` or one ` + "`file:line: message`" + ` per
problem and exits 2.

- **Strict**: an unknown key is an error (a typo never silently falls back to a default).
- **Defaults**: a key left out takes the default below; durations are written ` + "`30s`, `5m`, `24h`" + `,
  sizes as bytes or with a unit: ` + "`10GiB`, `500MB`" + `.
- **Paths**: a relative ` + "`*_file`, `*_dir`, `inventory` or `template`" + ` is relative to the config
  file's directory.
- **Secrets** (passwords, tokens, webhook URLs) come from a file (` + "`*_file`" + `) or an environment
  variable (` + "`*_env`" + `); inline values work but are discouraged. They never appear in logs.
- Without any file, ` + "`bsodwatch run`" + ` uses these defaults with a local fleet directory, a local
  dump share and the console sink, all under ` + "`data_dir`" + `.
`

const docsExample = "\n## Example\n\n```yaml\n" + `# Two roles on other machines join the all-in-one server on port 4222.
data_dir: /var/lib/bsodwatch
nats:
  user: bsodwatch
  password_env: BSODWATCH_NATS_PASSWORD
  embedded:
    listen: 0.0.0.0:4222
share:
  dir: /srv/dumps
  min_free: 20GiB
  compress: {min_size: 256MiB}
  retention:
    max_age: 2160h            # 90 days
    known_issue_max_age: 4320h
    keep_per_bucket: 20
    max_total: 500GiB
fetcher:
  inventory: inventory.yaml
  interval: 10m
  credentials:
    default:
      user: CORP\svc-bsodwatch
      password_env: BSODWATCH_SMB_PASSWORD
notifier:
  targets:
    - name: ops
      type: slack
      url_env: BSODWATCH_SLACK_URL
    - name: console
      type: console
metrics:
  listen: 0.0.0.0:9464
` + "```\n"
