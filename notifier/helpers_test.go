package notifier

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/secret"
)

func mustYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func secretOf(s string) secret.Value { return secret.New(s) }
