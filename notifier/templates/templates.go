// Package templates holds the default message templates of the chat integrations, embedded
// in the binary, and loads a target's override file on top of them. A template set defines
// the names its integration executes ("title", "text", "context"); an override file may
// redefine any of them and keeps the defaults for the rest.
package templates

import (
	"embed"
	"fmt"
	"os"
	"strings"
	"text/template"
)

//go:embed *.tmpl
var files embed.FS

// Funcs are available to every template. Values in the view are already escaped, so these
// only shape text.
var Funcs = template.FuncMap{
	"join":  strings.Join,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
}

// Load returns the default set for integration (slack, teams, mattermost, console) with
// the templates of overrideFile, if any, parsed on top.
func Load(integration, overrideFile string) (*template.Template, error) {
	b, err := files.ReadFile(integration + ".tmpl")
	if err != nil {
		return nil, fmt.Errorf("no default templates for %q", integration)
	}
	t, err := template.New(integration).Funcs(Funcs).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("default %s templates: %w", integration, err)
	}
	if overrideFile == "" {
		return t, nil
	}
	ob, err := os.ReadFile(overrideFile)
	if err != nil {
		return nil, fmt.Errorf("template override: %w", err)
	}
	if t, err = t.New("override").Parse(string(ob)); err != nil {
		return nil, fmt.Errorf("template override %s: %w", overrideFile, err)
	}
	return t, nil
}

// Exec runs the named template of t with data and returns its text, trimmed.
func Exec(t *template.Template, name string, data any) (string, error) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return strings.TrimSpace(b.String()), nil
}
