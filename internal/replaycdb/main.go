// Command replaycdb stands in for cdb.exe in tests, where the real debugger cannot run. It
// accepts cdb's command line (-z DUMP -y SYMPATH -c COMMANDS; other flags are ignored) and
// behaves as the dump file, or failing that the environment, tells it to.
//
// Tests build it with package replaytest (Main, Build or BuildT) and point the runner's
// debugger path at it.
//
// # The dump file as a script
//
// A dump file whose first line is "REPLAYCDB" is a script; every following "key: value" line
// sets one option (blank lines and lines starting with # are ignored):
//
//	mode: transcript       what to do, see below (default transcript)
//	transcript: FILE       text to print; a relative path is taken from the dump's folder
//	exit: N                exit code after printing (default 0)
//	flood_bytes: N         for mode flood: stop after N bytes (default: never stop)
//	delay: DURATION        wait this long first, as a debugger loading a dump does (e.g. 200ms)
//	first: MODE            the mode of the first first_runs runs of this dump, then mode;
//	first_runs: N          runs are counted in the file DUMP.runs (default 1)
//
// The file's content is also its identity: add a "# note" line to make two scripts with the
// same behaviour distinct dumps (different sha256).
//
// # The environment
//
// For a dump that is not a script (a real dump file) the options come from REPLAYCDB_MODE,
// REPLAYCDB_TRANSCRIPT, REPLAYCDB_EXIT and REPLAYCDB_FLOOD_BYTES; with none set, it echoes.
//
// # Modes
//
//	transcript  print the transcript file as is, then exit
//	echo        print "REPLAYCDB-ARGV: " and the argv as a JSON array, then exit
//	hang        start a child that sleeps forever (sharing stdout), print
//	            "REPLAYCDB-CHILD-PID: N", then sleep forever: a tree kill must end both
//	crash       print half of the transcript, then panic (exit code 2, a trace on stderr)
//	flood       print lines without end (or up to flood_bytes)
//	noopen      print cdb's "Could not open dump file [DUMP], Win32 error 0n2" and exit
//
// A missing dump file gives noopen whatever the environment says, as cdb would.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type script struct {
	mode, transcript, first string
	exit, firstRuns         int
	floodBytes              int64
	delay                   time.Duration
}

func main() {
	if os.Getenv("REPLAYCDB_CHILD") == "hang" {
		time.Sleep(365 * 24 * time.Hour)
		return
	}
	dump, symPath, cmds := parseArgs(os.Args[1:])
	s, err := load(dump)
	if err != nil {
		noOpen(dump, symPath, cmds)
		return
	}
	time.Sleep(s.delay)
	mode := s.mode
	if s.first != "" && countRun(dump) <= s.firstRuns {
		mode = s.first
	}
	if err := run(mode, s, dump, symPath, cmds); err != nil {
		fmt.Fprintln(os.Stderr, "replaycdb:", err)
		os.Exit(100)
	}
	os.Exit(s.exit)
}

// parseArgs picks cdb's -z, -y and -c values out of argv.
func parseArgs(args []string) (dump, symPath, cmds string) {
	for i := 0; i < len(args)-1; i++ {
		switch strings.ToLower(args[i]) {
		case "-z":
			dump = args[i+1]
		case "-y":
			symPath = args[i+1]
		case "-c":
			cmds = args[i+1]
		default:
			continue
		}
		i++
	}
	return dump, symPath, cmds
}

func load(dump string) (*script, error) {
	b, err := os.ReadFile(dump)
	if err != nil {
		return nil, err
	}
	s := &script{mode: "echo", firstRuns: 1}
	if !bytes.HasPrefix(b, []byte("REPLAYCDB")) {
		s.mode = envOr("REPLAYCDB_MODE", s.mode)
		s.transcript = os.Getenv("REPLAYCDB_TRANSCRIPT")
		if s.transcript != "" && os.Getenv("REPLAYCDB_MODE") == "" {
			s.mode = "transcript"
		}
		s.exit, _ = strconv.Atoi(os.Getenv("REPLAYCDB_EXIT"))
		s.floodBytes, _ = strconv.ParseInt(os.Getenv("REPLAYCDB_FLOOD_BYTES"), 10, 64)
		return s, nil
	}
	s.mode = "transcript"
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // REPLAYCDB
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "mode":
			s.mode = v
		case "transcript":
			if !filepath.IsAbs(v) {
				v = filepath.Join(filepath.Dir(dump), v)
			}
			s.transcript = v
		case "exit":
			s.exit, _ = strconv.Atoi(v)
		case "flood_bytes":
			s.floodBytes, _ = strconv.ParseInt(v, 10, 64)
		case "first":
			s.first = v
		case "first_runs":
			s.firstRuns, _ = strconv.Atoi(v)
		case "delay":
			s.delay, _ = time.ParseDuration(v)
		}
	}
	return s, nil
}

// countRun records one more run of dump and returns the count, this run included.
func countRun(dump string) int {
	f := dump + ".runs"
	b, _ := os.ReadFile(f)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	n++
	_ = os.WriteFile(f, []byte(strconv.Itoa(n)), 0o644)
	return n
}

func run(mode string, s *script, dump, symPath, cmds string) error {
	switch mode {
	case "transcript":
		b, err := os.ReadFile(s.transcript)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	case "echo":
		banner(dump, symPath, cmds)
		j, _ := json.Marshal(os.Args[1:])
		fmt.Printf("REPLAYCDB-ARGV: %s\n", j)
		return nil
	case "hang":
		banner(dump, symPath, cmds)
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		child := exec.Command(exe)
		child.Env = append(os.Environ(), "REPLAYCDB_CHILD=hang")
		child.Stdout = os.Stdout
		if err := child.Start(); err != nil {
			return err
		}
		fmt.Printf("REPLAYCDB-CHILD-PID: %d\n", child.Process.Pid)
		time.Sleep(365 * 24 * time.Hour)
		return nil
	case "crash":
		if b, err := os.ReadFile(s.transcript); err == nil {
			os.Stdout.Write(b[:len(b)/2])
		}
		panic("replaycdb: simulated debugger crash")
	case "flood":
		line := []byte(strings.Repeat("flood ", 20) + "\n")
		var n int64
		w := bufio.NewWriterSize(os.Stdout, 64<<10)
		for s.floodBytes <= 0 || n < s.floodBytes {
			if _, err := w.Write(line); err != nil {
				return err
			}
			n += int64(len(line))
		}
		return w.Flush()
	case "noopen":
		noOpen(dump, symPath, cmds)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func banner(dump, symPath, cmds string) {
	fmt.Printf("\nMicrosoft (R) Windows Debugger Version 10.0.99999.1 AMD64 (replaycdb)\n")
	fmt.Printf("Copyright (c) Microsoft Corporation. All rights reserved.\n\n")
	fmt.Printf("Loading Dump File [%s]\n", dump)
	fmt.Printf("Symbol search path is: %s\n", symPath)
	fmt.Printf("Executable search path is: \n")
	if cmds != "" {
		fmt.Printf("0: kd> %s\n", cmds)
	}
}

// noOpen prints what cdb prints for a dump file it cannot open.
func noOpen(dump, symPath, cmds string) {
	banner(dump, symPath, cmds)
	fmt.Printf("Could not open dump file [%s], Win32 error 0n2\n    \"The system cannot find the file specified.\"\n", dump)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
