package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestLoggerTimestampsHaveMilliseconds: the JSON log's time field carries milliseconds, so
// that stages a few ms apart can be told apart in the log.
func TestLoggerTimestampsHaveMilliseconds(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("x")
	var line struct {
		Time string `json:"time"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if _, err := time.Parse(logTimeFormat, line.Time); err != nil {
		t.Fatalf("time %q is not RFC 3339 with milliseconds: %v", line.Time, err)
	}
	if len(line.Time) < len("2006-01-02T15:04:05.000Z") {
		t.Fatalf("time %q has no milliseconds", line.Time)
	}
}
