package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// user is who made the request: the basic-auth user the exporter-toolkit let through, or
// "" when the listener has no web configuration (nobody is authenticated).
func (s *Server) user(r *http.Request) string {
	if !s.d.Auth {
		return ""
	}
	u, _, _ := r.BasicAuth()
	return u
}

// needUser is the refusal of a download or change to an unauthenticated request.
const needUser = "this needs a signed-in user: start bsodwatch with --web.config.file (basic_auth_users) to download dumps or change anything; see docs/web.md"

// csrfToken is the token a form of user must carry: an HMAC of the user name under the
// process's key, so another site cannot make one.
func (s *Server) csrfToken(user string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf\x00" + user))
	return hex.EncodeToString(m.Sum(nil))
}

// crossOrigin refuses cross-site browser requests (Sec-Fetch-Site, else Origin against Host).
var crossOrigin = http.NewCrossOriginProtection()

// isForm reports whether r carries an HTML form.
func isForm(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data"
}

// post wraps a write action: a cross-site request is refused; a form must carry the user's
// token, anything else must be JSON (which a browser sends cross-site only after a CORS
// preflight this server never answers); the user must be authenticated; and the action is
// written to the audit log with its outcome before the answer goes out.
func (s *Server) post(action string, fn func(w http.ResponseWriter, r *http.Request, user string) (target string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := crossOrigin.Check(r); err != nil {
			s.refuse(w, r, http.StatusForbidden, "cross-site request refused")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if isForm(r) {
			if err := r.ParseForm(); err != nil {
				s.refuse(w, r, http.StatusBadRequest, "bad form: "+err.Error())
				return
			}
			if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(s.csrfToken(s.user(r)))) {
				s.refuse(w, r, http.StatusForbidden, "the form's CSRF token is missing or wrong: reload the page and try again")
				return
			}
		} else if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" && r.ContentLength != 0 {
			s.refuse(w, r, http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json) or an HTML form")
			return
		}
		s.authorized(action, w, r, fn)
	}
}

// writer wraps an action that is not a POST but needs a user and an audit line (a dump
// download).
func (s *Server) writer(action string, fn func(w http.ResponseWriter, r *http.Request, user string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.authorized(action, w, r, fn) }
}

func (s *Server) authorized(action string, w http.ResponseWriter, r *http.Request, fn func(w http.ResponseWriter, r *http.Request, user string) (string, error)) {
	user := s.user(r)
	if user == "" {
		s.refuse(w, r, http.StatusForbidden, needUser)
		return
	}
	if s.audit == nil {
		s.refuse(w, r, http.StatusServiceUnavailable, "no audit log is configured (web.audit_file): downloads and changes are off")
		return
	}
	// The audit line is written before the action takes effect, and an action whose line
	// cannot be written does not happen.
	aw := &auditWriter{ResponseWriter: w, s: s, r: r, user: user, action: action}
	target, err := fn(aw, r, user)
	aw.finish(target, err)
}

// refuse answers a refused request as JSON for the API, as a page otherwise.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if isAPI(r) {
		apiError(w, code, msg)
		return
	}
	s.errorPage(w, r, code, msg)
}

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Action string    `json:"action"` // download, ack, silence, unack, unsilence, reanalyze
	Target string    `json:"target"` // the verdict ID or bucket
	Remote string    `json:"remote"`
	// Outcome is "ok" or why the action failed.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

type auditLog struct {
	mu sync.Mutex
	f  *os.File
}

func openAudit(path string) (*auditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &auditLog{f: f}, nil
}

// write appends one record and syncs it to disk.
func (a *auditLog) write(rec AuditRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

func (a *auditLog) close() error { return a.f.Close() }

// auditWriter writes the audit line of an action when the action commits to an answer:
// before its first byte (so a download is recorded before the dump leaves), or at the end.
type auditWriter struct {
	http.ResponseWriter
	s            *Server
	r            *http.Request
	user, action string
	target       string
	detail       string
	done, failed bool
}

// begin records the action as starting with target (a download before its bytes). It
// returns false when the line cannot be written: the action must not go ahead.
func (aw *auditWriter) begin(target, detail string) bool {
	aw.target, aw.detail = target, detail
	if aw.done {
		return !aw.failed
	}
	aw.done = true
	err := aw.s.audit.write(AuditRecord{Time: aw.s.d.Now().UTC(), User: aw.user, Action: aw.action, Target: target,
		Remote: aw.r.RemoteAddr, Outcome: "ok", Detail: detail})
	if err != nil {
		aw.failed = true
		aw.s.log.Error().Err(err).Str("action", aw.action).Msg("audit log not written: action refused")
		aw.s.refuse(aw.ResponseWriter, aw.r, http.StatusInternalServerError, "the audit log cannot be written: action refused")
		return false
	}
	aw.s.log.Info().Str("user", aw.user).Str("action", aw.action).Str("target", target).Msg("web action")
	return true
}

// finish records an action that failed before it began (bad input, not found), so refused
// attempts are in the log too.
func (aw *auditWriter) finish(target string, err error) {
	if aw.done || err == nil {
		return
	}
	aw.done = true
	if werr := aw.s.audit.write(AuditRecord{Time: aw.s.d.Now().UTC(), User: aw.user, Action: aw.action, Target: target,
		Remote: aw.r.RemoteAddr, Outcome: err.Error()}); werr != nil {
		aw.s.log.Error().Err(werr).Msg("audit log not written")
	}
}
