// Package optcheck collects the mistakes found in configuration options, each tied to the
// key it is about ("targets[1].url_file"), so that every option type can report all of its
// problems at once and `bsodwatch config check` (and each role at start) can print every one
// of them with the file:line of the key itself.
//
// An option type implements `Validate() error` and returns the Problems it found (nil when
// none). The caller nests them under its own key with Problems.Add.
package optcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/bsodwatch/bsodwatch/secret"
)

// Problem is one mistake: the dotted key it is about (relative to the options that reported
// it; list elements as name[i], counted from 0) and what is wrong, for people.
type Problem struct {
	Key string
	Msg string
	// File and Line, when set, place the problem in another file the options name (an
	// inventory, a rule file): it is reported there rather than at the key.
	File   string
	Line   int
	Column int
}

func (p Problem) Error() string {
	switch {
	case p.File != "" && p.Line > 0 && p.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	case p.File != "":
		return p.File + ": " + p.Msg
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	case p.Key == "":
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Problems are all the mistakes found in one set of options. The zero value is ready to use.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "; ")
}

// Addf records a problem with key.
func (ps *Problems) Addf(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Add records err under key. When err holds Problems (a nested Validate's result, possibly
// joined with others), their keys are put under key; any other error becomes one problem.
// A nil err adds nothing.
func (ps *Problems) Add(key string, err error) {
	if err == nil {
		return
	}
	var sub Problems
	if errors.As(err, &sub) && err.Error() == sub.Error() { // Problems, or a wrapper adding nothing
		for _, p := range sub {
			p.Key = Join(key, p.Key)
			*ps = append(*ps, p)
		}
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			ps.Add(key, e)
		}
		return
	}
	var p Problem
	if errors.As(err, &p) && err.Error() == p.Error() {
		p.Key = Join(key, p.Key)
		*ps = append(*ps, p)
		return
	}
	*ps = append(*ps, Problem{Key: key, Msg: err.Error()})
}

// Err returns the problems as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Join joins two keys with a dot; an index ("[2]") is appended without one.
func Join(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	case strings.HasPrefix(child, "["):
		return parent + child
	}
	return parent + "." + child
}

// Index is the key of a list element: Index("targets", 2) is "targets[2]".
func Index(key string, i int) string { return fmt.Sprintf("%s[%d]", key, i) }

// Of returns the problems err holds, each keyed, for callers that print them.
func Of(err error) Problems {
	var ps Problems
	ps.Add("", err)
	return ps
}

// Secret resolves a secret given as key (inline), key_file or key_env (secret.Load's
// precedence) and records a failure under the key that was used. The secret itself never
// appears in a problem.
func (ps *Problems) Secret(key, inline, file, env string) secret.Value {
	v, err := secret.Load(inline, file, env)
	if err != nil {
		k := key
		switch {
		case file != "":
			k += "_file"
		case env != "":
			k += "_env"
		}
		ps.Addf(k, "%s", err)
	}
	return v
}

// File records a problem under key unless path names a regular file this process can read.
// An empty path is not checked.
func (ps *Problems) File(key, path string) {
	if path == "" {
		return
	}
	if err := Readable(path); err != nil {
		ps.Addf(key, "%s", err)
	}
}

// Dir records a problem under key unless path names a directory that can be listed. An empty
// path is not checked.
func (ps *Problems) Dir(key, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		ps.Addf(key, "%s", pathErr(err))
	case !fi.IsDir():
		ps.Addf(key, "%s is not a directory", path)
	default:
		f, err := os.Open(path)
		if err != nil {
			ps.Addf(key, "%s", pathErr(err))
			return
		}
		f.Close()
	}
}

// Readable returns nil when path is a regular file that can be opened for reading.
func Readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return errors.New(pathErr(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return errors.New(pathErr(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", path)
	}
	return nil
}

// pathErr says "open /x: no such file or directory" once, with the path.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}
