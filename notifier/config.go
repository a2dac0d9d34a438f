package notifier

import (
	"bytes"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// ParseOptions reads Options from YAML: either a whole bsodwatch configuration, whose
// "notifier" section is read (other sections are left to their roles), or a document that
// is the notifier section itself. Unknown keys in the section are errors with their line.
func ParseOptions(b []byte) (Options, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return Options{}, fmt.Errorf("notifier config: %w", err)
	}
	var o Options
	if len(doc.Content) == 0 {
		return o, errors.New("notifier config: empty document")
	}
	root := doc.Content[0]
	section := root
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "notifier" {
				section = root.Content[i+1]
			}
		}
	}
	// Re-encode the section so the strict decoder (KnownFields) checks it; line numbers
	// are then relative to the section, so report the section's own line too.
	sb, err := yaml.Marshal(section)
	if err != nil {
		return o, fmt.Errorf("notifier config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(sb))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil {
		return o, fmt.Errorf("notifier config (section at line %d): %w", section.Line, err)
	}
	return o, nil
}
