// Package secret holds passwords, tokens and webhook URLs so that they cannot leak: a Value
// prints as "<secret>" in logs, errors, JSON and YAML, and is read from the environment or a
// file rather than written into configuration.
package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Value is a secret string. Only Reveal returns the content.
type Value struct{ s string }

// New wraps s.
func New(s string) Value { return Value{s: s} }

// Reveal returns the secret itself, for the one place that must send it.
func (v Value) Reveal() string { return v.s }

// IsZero reports whether the secret is empty.
func (v Value) IsZero() bool { return v.s == "" }

const redacted = "<secret>"

func (v Value) String() string               { return redacted }
func (v Value) GoString() string             { return redacted }
func (v Value) Format(f fmt.State, _ rune)   { fmt.Fprint(f, redacted) }
func (v Value) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }
func (v Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalYAML writes "<secret>", or "" for an empty value so that a written-out config
// shows which secrets are set without showing them.
func (v Value) MarshalYAML() (any, error) {
	if v.IsZero() {
		return "", nil
	}
	return redacted, nil
}

// UnmarshalText reads a secret given inline, so a Value can be a configuration field. Prefer
// a *_file or *_env field beside it and Load: inline secrets end up in backups and diffs.
func (v *Value) UnmarshalText(b []byte) error {
	v.s = string(b)
	return nil
}

// UnmarshalYAML reads an inline secret from a YAML scalar. The error names the line but
// never the content.
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %w", n.Line, errNotScalar)
	}
	v.s = n.Value
	return nil
}

var errNotScalar = errors.New("a secret must be a string")

// Load resolves a secret given inline, by file or by environment variable name, in that
// order of precedence: file, then env, then inline. A file's content is trimmed of
// surrounding whitespace. The error never contains the secret.
func Load(inline, file, envVar string) (Value, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Value{}, fmt.Errorf("read secret file: %w", err)
		}
		return Value{s: strings.TrimSpace(string(b))}, nil
	}
	if envVar != "" {
		v, ok := os.LookupEnv(envVar)
		if !ok {
			return Value{}, fmt.Errorf("secret environment variable %s is not set", envVar)
		}
		return Value{s: v}, nil
	}
	return Value{s: inline}, nil
}

// Redact replaces every occurrence of the secrets in s with "<secret>"; for error texts from
// libraries that quote what they were given (a URL in a *url.Error, say).
func Redact(s string, secrets ...Value) string {
	for _, v := range secrets {
		if len(v.s) >= 4 {
			s = strings.ReplaceAll(s, v.s, redacted)
		}
	}
	return s
}
