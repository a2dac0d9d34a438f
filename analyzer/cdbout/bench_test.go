package cdbout

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// BenchmarkParseCorpus parses every transcript of ../shared/corpus once per iteration;
// ns/op is the whole corpus, MB/s the throughput.
func BenchmarkParseCorpus(b *testing.B) {
	dir := sharedtest.Dir(b, "corpus")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.txt"))
	var texts [][]byte
	total := 0
	for _, f := range files {
		t, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		texts = append(texts, t)
		total += len(t)
	}
	if total == 0 {
		b.Fatal("empty corpus")
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, t := range texts {
			ParseBytes(t)
		}
	}
}

// BenchmarkParseLarge parses a 64 MiB console log (the fixtures repeated): linear time and
// flat memory on big inputs.
func BenchmarkParseLarge(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	var one []byte
	for _, f := range files {
		t, _ := os.ReadFile(f)
		one = append(one, t...)
	}
	big := bytes.Repeat(one, (64<<20)/len(one)+1)
	b.SetBytes(int64(len(big)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(big)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseFlattened parses a 4 MiB single line (lost line breaks at scale).
func BenchmarkParseFlattened(b *testing.B) {
	one, err := os.ReadFile(filepath.Join("testdata", "flattened-markdown-7e.txt"))
	if err != nil {
		b.Fatal(err)
	}
	one = bytes.ReplaceAll(one, []byte("\n"), []byte(" "))
	big := bytes.Repeat(one, (4<<20)/len(one))
	b.SetBytes(int64(len(big)))
	for b.Loop() {
		ParseBytes(big)
	}
}
