package secret

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const sample = "hunter2-very-secret"

func TestNeverPrinted(t *testing.T) {
	v := New(sample)
	j, _ := json.Marshal(struct{ V Value }{v})
	y, _ := yaml.Marshal(struct{ V Value }{v})
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", v), "%s": fmt.Sprintf("%s", v), "%#v": fmt.Sprintf("%#v", v),
		"%q": fmt.Sprintf("%q", v), "struct %+v": fmt.Sprintf("%+v", struct{ V Value }{v}),
		"json": string(j), "yaml": string(y), "error": fmt.Errorf("x: %v", v).Error(),
	} {
		if strings.Contains(s, sample) || !strings.Contains(s, "secret") { // JSON writes \u003csecret\u003e
			t.Errorf("%s: %q", name, s)
		}
	}
	if v.Reveal() != sample {
		t.Fatal("Reveal lost the value")
	}
}

func TestYAML(t *testing.T) {
	var c struct {
		URL   Value `yaml:"url"`
		Empty Value `yaml:"empty"`
	}
	dec := yaml.NewDecoder(strings.NewReader("url: https://hooks.example/" + sample + "\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.URL.Reveal() != "https://hooks.example/"+sample || !c.Empty.IsZero() {
		t.Fatalf("decoded %q, %q", c.URL.Reveal(), c.Empty.Reveal())
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "url: <secret>\nempty: \"\"\n" {
		t.Errorf("marshalled %q", got)
	}
	// A mapping where a string belongs is a one-line error that does not echo the content.
	err = yaml.Unmarshal([]byte("url:\n  nested: "+sample+"\n"), &c)
	if err == nil || strings.Contains(err.Error(), sample) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("mapping: %v", err)
	}
}

func TestText(t *testing.T) {
	var v Value
	if err := v.UnmarshalText([]byte(sample)); err != nil || v.Reveal() != sample {
		t.Fatalf("%v %q", err, v.Reveal())
	}
	var m struct{ K Value }
	if err := json.Unmarshal([]byte(`{"K":"`+sample+`"}`), &m); err != nil || m.K.Reveal() != sample {
		t.Fatalf("json: %v %q", err, m.K.Reveal())
	}
}

func TestLoadPrecedence(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(f, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SECRET_TEST_VAR", "from-env")
	tests := []struct {
		inline, file, env, want string
		wantErr                 bool
	}{
		{"inline", f, "SECRET_TEST_VAR", "from-file", false},
		{"inline", "", "SECRET_TEST_VAR", "from-env", false},
		{"inline", "", "", "inline", false},
		{"", "", "SECRET_TEST_UNSET_VAR", "", true},
		{"", f + ".missing", "", "", true},
	}
	for _, tt := range tests {
		v, err := Load(tt.inline, tt.file, tt.env)
		if (err != nil) != tt.wantErr || v.Reveal() != tt.want {
			t.Errorf("Load(%q, %q, %q) = %q, %v", tt.inline, tt.file, tt.env, v.Reveal(), err)
		}
	}
}

func TestRedact(t *testing.T) {
	got := Redact("GET https://x/"+sample+": refused", New(sample), New("ab"))
	if got != "GET https://x/<secret>: refused" {
		t.Errorf("%q", got)
	}
}
