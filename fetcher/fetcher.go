// Package fetcher finds new crash dumps on Windows hosts and queues them for analysis: it
// polls every host of an inventory (over SMB, or a local "fleet" directory in the all-in-one
// mode), waits until a new dump is stable, copies it to the dump share while hashing it,
// reads its header, publishes a job on JetStream (deduplicated by the content hash) and only
// then records the dump as seen in a JetStream KV bucket.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/internal/smbauth"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Options configure the fetcher role; the zero value of each field takes the default noted.
type Options struct {
	// Inventory is a file of hosts (YAML or one host per line), re-read when it changes; with
	// ldap it adds static hosts, overrides discovered ones of the same name and excludes
	// hosts (docs/inventory.md).
	Inventory string `yaml:"inventory"`
	// LDAP discovers the hosts in Active Directory, re-read every ldap.refresh (docs/ad.md).
	LDAP *LDAPOptions `yaml:"ldap"`
	// FleetDir, instead of Inventory, makes every subfolder of a local directory a host laid
	// out like ADMIN$ (MEMORY.DMP, Minidump\): the all-in-one mode's source.
	FleetDir string `yaml:"fleet_dir"`
	// Interval between sweeps in daemon mode (default 5m).
	Interval time.Duration `yaml:"interval"`
	// StableAfter: a dump is copied once its size and mtime are the same across two looks
	// this far apart (default 5s).
	StableAfter time.Duration `yaml:"stable_after"`
	// StableTimeout: how long one sweep keeps looking at a dump that is still being written
	// before it leaves it for the next sweep (default 2m).
	StableTimeout time.Duration `yaml:"stable_timeout"`
	// Concurrency is how many hosts are swept at once (default 16).
	Concurrency int `yaml:"concurrency"`
	// OpTimeout bounds every SMB request, and a copy that makes no progress (default 30s).
	OpTimeout time.Duration `yaml:"op_timeout"`
	// CopyWorkers is the number of parallel range readers for big files (default 4).
	CopyWorkers int `yaml:"copy_workers"`
	// ChunkSize is the size of one range read (default 1 MiB, the SMB maximum).
	ChunkSize int `yaml:"chunk_size"`
	// ParallelMinBytes: files at least this big are read in parallel (default 8 MiB).
	ParallelMinBytes int64 `yaml:"parallel_min_bytes"`
	// ParallelSessions is how many SMB sessions (TCP connections) read one file of at least
	// SessionsMinBytes, its CopyWorkers spread over them (default 2; 1 = the sweep's session
	// only). One connection verifies signatures (AES-CMAC) and receives in one goroutine,
	// so with signing a single session is CPU-bound on one core.
	ParallelSessions int `yaml:"parallel_sessions"`
	// SessionsMinBytes: files at least this big get the extra sessions (default 64 MiB).
	SessionsMinBytes int64 `yaml:"sessions_min_bytes"`
	// MaxRateBytes caps one copy's rate in bytes per second, to spare slow links (default 0:
	// no cap).
	MaxRateBytes int64 `yaml:"max_rate_bytes"`
	// ProgressEvery is how often a long copy logs bytes, rate and ETA (default 10s).
	ProgressEvery time.Duration `yaml:"progress_every"`
	// Globs are extra dump patterns relative to the admin share, '/'-separated, '**' for any
	// depth, e.g. "LiveKernelReports/**/*.dmp". MEMORY.DMP and Minidump/*.dmp are always
	// looked at.
	Globs []string `yaml:"globs"`
	// AdminShare is the share holding the Windows directory (default "ADMIN$").
	AdminShare string `yaml:"admin_share"`
	// RequireSigning refuses SMB sessions the host does not sign (default false; signing is
	// always honoured when a host requires it).
	RequireSigning bool `yaml:"require_signing"`
	// Encryption is the policy for SMB 3 encryption (AES-128-GCM, or AES-128-CCM on SMB 3.0)
	// of the traffic with a host, which otherwise carries the dump, kernel memory that may
	// hold secrets, in clear: "auto" (default) encrypts whenever the host asks for it (on
	// Windows Set-SmbServerConfiguration -EncryptData $true, or a share that requires it) and
	// relies on signing otherwise; "required" refuses a host whose session it cannot see
	// encrypted on the wire (reason "unencrypted") and drops a connection that later sends a
	// message in clear. go-smb2 cannot ask a host for encryption by itself, so "required"
	// needs hosts that ask for it. Encrypted, a copy costs less CPU than with go-smb2's
	// AES-CMAC signing (scripts/bench-copy.sh).
	Encryption string `yaml:"encryption"`
	// Auth is how hosts log on: negotiate (Kerberos when the credential has kerberos
	// settings, else NTLM; NTLM too when Kerberos cannot start, e.g. no SPN for the host, and
	// the credential has a password), kerberos, or ntlm. A host's own auth overrides it
	// (default negotiate).
	Auth string `yaml:"auth"`
	// Credentials by name; hosts refer to one (default: DefaultCredentials).
	Credentials map[string]Credential `yaml:"credentials"`
	// DefaultCredentials names the credentials of hosts that name none (default "default").
	DefaultCredentials string `yaml:"default_credentials"`
	// EventLog reads each host's System event log over the same session, for the crashes
	// that left no dump (docs/eventlog.md).
	EventLog EventLogOptions `yaml:"eventlog"`
}

// The values of Options.Encryption.
const (
	EncryptionAuto     = "auto"
	EncryptionRequired = "required"
)

// EventLogOptions configure reading each host's System event log: blue screens that left
// no dump become verdicts, unexpected reboots are recorded, and a copied dump's verdict
// gets what the log says of its crash. The account that reads ADMIN$ can read the log; a
// host without one (a fleet folder without System32/winevt/Logs/System.evtx) is skipped.
type EventLogOptions struct {
	// Enabled reads the logs (default true); a host's `eventlog` in the inventory
	// overrides it.
	Enabled *bool `yaml:"enabled"`
	// Interval is how often a host's log is read, independent of fetcher.interval: at the
	// first sweep this long after the last read (default 5m; in `bsodwatch run` with a
	// fleet folder, the fleet's sweep interval). A sweep that finds a new dump on a host
	// reads its log too, so the dump's verdict carries the log's facts. An unchanged log
	// costs two reads of 128 bytes.
	Interval time.Duration `yaml:"interval"`
	// Path is the log below the admin share, '/'-separated (default
	// System32/winevt/Logs/System.evtx), for logs moved by policy; a host's
	// `eventlog_path` overrides it.
	Path string `yaml:"path"`
	// Settle is how long the fetcher waits, after the host logged a blue screen with no
	// dump report yet (or an unexpected reboot), before it reports it: Windows may still log
	// the dump, or the bug check (default 10m).
	Settle time.Duration `yaml:"settle"`
}

// On reports whether the event log is read, by default.
func (o EventLogOptions) On() bool { return o.Enabled == nil || *o.Enabled }

// Credential is an account for SMB (and the LDAP bind). The password comes from a file or
// an environment variable (or, discouraged, inline); it is never logged. With kerberos
// settings the account logs on with Kerberos, from a keytab or the password.
type Credential struct {
	// User is "DOMAIN\user", "user@domain" or a local "user" (for Kerberos, the account's
	// sAMAccountName, e.g. svc-bsod or a gMSA's gmsa-bsod$).
	User         string `yaml:"user"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// Kerberos settings: keytab, realm, KDCs or krb5.conf. Default: none (NTLM only).
	Kerberos *smbauth.Kerberos `yaml:"kerberos"`
}

// HasPassword says whether a password is configured (not whether it can be read).
func (c Credential) HasPassword() bool {
	return c.Password != "" || c.PasswordFile != "" || c.PasswordEnv != ""
}

// Validate reports every problem at once, keyed relative to the credential (the secret
// itself is resolved by Resolve).
func (c Credential) Validate() error {
	var ps optcheck.Problems
	if c.User == "" {
		ps.Addf("user", "required")
	}
	if c.Kerberos != nil {
		ps.Add("kerberos", c.Kerberos.Validate())
		if c.Kerberos.KeytabFile == "" && !c.HasPassword() {
			ps.Addf("kerberos.keytab_file", "required without a password")
		}
	}
	return ps.Err()
}

// Resolve loads the password.
func (c Credential) Resolve() (secret.Value, error) {
	return secret.Load(c.Password, c.PasswordFile, c.PasswordEnv)
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, 5*time.Minute)
	def(&o.StableAfter, 5*time.Second)
	def(&o.StableTimeout, 2*time.Minute)
	def(&o.OpTimeout, 30*time.Second)
	def(&o.ProgressEvery, 10*time.Second)
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.CopyWorkers <= 0 {
		o.CopyWorkers = 4
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 1 << 20
	}
	if o.ParallelMinBytes <= 0 {
		o.ParallelMinBytes = 8 << 20
	}
	if o.ParallelSessions <= 0 {
		o.ParallelSessions = 2
	}
	if o.SessionsMinBytes <= 0 {
		o.SessionsMinBytes = 64 << 20
	}
	if o.AdminShare == "" {
		o.AdminShare = "ADMIN$"
	}
	if o.Encryption == "" {
		o.Encryption = EncryptionAuto
	}
	if o.DefaultCredentials == "" {
		o.DefaultCredentials = "default"
	}
	if o.EventLog.Enabled == nil {
		on := true
		o.EventLog.Enabled = &on
	}
	def(&o.EventLog.Interval, 5*time.Minute)
	def(&o.EventLog.Settle, 10*time.Minute)
	if o.EventLog.Path == "" {
		o.EventLog.Path = EventLogPath
	}
	return o
}

// Host is one machine to poll.
type Host struct {
	// Name identifies the host in jobs, state and the dump share layout (letters, digits,
	// '.', '-', '_').
	Name string `yaml:"name"`
	// Address is what to connect to (default Name); "addr:port" or Port set the port.
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
	// Credentials names an entry of Options.Credentials.
	Credentials string `yaml:"credentials"`
	// Share overrides Options.AdminShare; Dir is a folder inside it acting as the root.
	Share string   `yaml:"share"`
	Dir   string   `yaml:"dir"`
	Tags  []string `yaml:"tags"`
	// Auth overrides Options.Auth for this host: kerberos, ntlm or negotiate.
	Auth string `yaml:"auth"`
	// Globs are extra dump patterns for this host (added to Options.Globs).
	Globs []string `yaml:"globs"`
	// EventLog turns reading this host's System event log on or off (default
	// Options.EventLog.Enabled); EventLogPath moves it (default Options.EventLog.Path).
	EventLog     *bool  `yaml:"eventlog"`
	EventLogPath string `yaml:"eventlog_path"`
}

// Inventory lists the hosts to poll.
type Inventory interface {
	Hosts(ctx context.Context) ([]Host, error)
}

// Source opens one session per host per sweep.
type Source interface {
	Open(ctx context.Context, h Host) (Session, error)
}

// Session reads one host's admin share. Paths are '/'-separated and relative to the share
// (and Host.Dir). Every call is bounded by ctx; a File's reads by the ctx given to Open.
type Session interface {
	ReadDir(ctx context.Context, dir string) ([]Entry, error)
	Stat(ctx context.Context, name string) (Entry, error)
	Open(ctx context.Context, name string) (File, error)
	Close() error
}

// Entry describes a file or folder on a host.
type Entry struct {
	Name    string
	Size    int64
	ModTime time.Time
	Dir     bool
}

// ExtraOpener is implemented by sessions that can open a file again over up to n new
// sessions of their own, so one big copy is not bound by one connection. Each File's ctx is
// ctx (its reads end when ctx does), dialing is bounded by the op timeout, and closing a
// File ends its session. Fewer than n files (with the reason) is not a failure.
type ExtraOpener interface {
	OpenExtra(ctx context.Context, name string, n int) ([]File, error)
}

// File is an open remote dump.
type File interface {
	io.ReaderAt
	Close() error
}

// Errors a Source wraps so the fetcher can tell host states apart. The Kerberos and NTLM
// ones are smbauth's, so that its errors classify without a translation.
var (
	ErrNTLMBlocked      = smbauth.ErrNTLMBlocked
	ErrClockSkew        = smbauth.ErrClockSkew
	ErrUnknownPrincipal = smbauth.ErrUnknownPrincipal
	ErrKeytab           = smbauth.ErrKeytab
	ErrKDCUnreachable   = smbauth.ErrKDCUnreachable

	ErrOffline = errors.New("host unreachable")
	ErrAuth    = smbauth.ErrLogon
	ErrDenied  = errors.New("access denied")
	ErrNoShare = errors.New("share not found")
	ErrConfig  = errors.New("configuration")
	ErrTimeout = errors.New("timed out")
	// ErrUnencrypted: encryption is required and the host's session is not encrypted.
	ErrUnencrypted = errors.New("session not encrypted")
	errStalled     = errors.New("no progress within the operation timeout")
	errUnstable    = errors.New("dump is still changing")
)

// Reason classifies an error for logs and metrics: offline, auth, ntlm_blocked,
// clock_skew, unknown_principal, keytab, kdc_unreachable, denied, no_share, unencrypted,
// config, timeout, share_full, canceled or error.
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNTLMBlocked):
		return "ntlm_blocked"
	case errors.Is(err, ErrClockSkew):
		return "clock_skew"
	case errors.Is(err, ErrUnknownPrincipal):
		return "unknown_principal"
	case errors.Is(err, ErrKeytab):
		return "keytab"
	case errors.Is(err, ErrKDCUnreachable):
		return "kdc_unreachable"
	case errors.Is(err, dumpshare.ErrNoSpace):
		return ReasonShareFull
	case errors.Is(err, ErrOffline):
		return "offline"
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.Is(err, ErrDenied):
		return "denied"
	case errors.Is(err, ErrNoShare):
		return "no_share"
	case errors.Is(err, ErrUnencrypted):
		return "unencrypted"
	case errors.Is(err, ErrConfig):
		return "config"
	case errors.Is(err, ErrTimeout), errors.Is(err, errStalled), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// Seen is what the state bucket records about a dump that has been queued.
type Seen struct {
	Size       int64     `json:"size"`
	ModTime    time.Time `json:"mtime"`
	SHA256     string    `json:"sha256"`
	SharePath  string    `json:"share_path"`
	RecordedAt time.Time `json:"recorded_at"`
}

// State remembers the dumps already queued, per host and path.
type State interface {
	Get(ctx context.Context, host, path string) (Seen, bool, error)
	Put(ctx context.Context, host, path string, s Seen) error
}

// Publisher queues a job and returns once the queue has acknowledged it; duplicate says the
// queue already had it (intake.Publisher has it).
type Publisher interface {
	Publish(ctx context.Context, job *pipeline.Job) (duplicate bool, err error)
}

// Limits of the copy options.
const (
	minChunkSize    = 4 << 10
	maxChunkSize    = 8 << 20
	maxCopyWorkers  = 64
	maxSessions     = 16
	maxConcurrency  = 4096
	credentialsHelp = "password_file, password_env or password"
)

// Validate reports every problem with o at once (optcheck.Problems keyed like the YAML):
// contradictory sources, bad values, credentials whose secret cannot be read, and the
// inventory file itself (each of its mistakes at its own file:line, hosts naming unknown
// credentials included). Roles call it at start, `bsodwatch config check` too.
func (o Options) Validate() error { return o.validate(true) }

// validate checks o; readInventory also reads and checks the inventory file.
func (o Options) validate(readInventory bool) error {
	var ps optcheck.Problems
	if o.Inventory != "" && o.FleetDir != "" {
		ps.Addf("fleet_dir", "set inventory or fleet_dir, not both")
	}
	ps.Dir("fleet_dir", o.FleetDir)
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"interval", o.Interval}, {"stable_after", o.StableAfter}, {"stable_timeout", o.StableTimeout},
		{"op_timeout", o.OpTimeout}, {"progress_every", o.ProgressEvery},
		{"eventlog.interval", o.EventLog.Interval}, {"eventlog.settle", o.EventLog.Settle}} {
		if d.v < 0 {
			ps.Addf(d.key, "%s: must not be negative", d.v)
		}
	}
	for _, n := range []struct {
		key    string
		v, max int64
	}{{"concurrency", int64(o.Concurrency), maxConcurrency}, {"copy_workers", int64(o.CopyWorkers), maxCopyWorkers},
		{"parallel_sessions", int64(o.ParallelSessions), maxSessions}, {"parallel_min_bytes", o.ParallelMinBytes, -1},
		{"sessions_min_bytes", o.SessionsMinBytes, -1}, {"max_rate_bytes", o.MaxRateBytes, -1}} {
		switch {
		case n.v < 0:
			ps.Addf(n.key, "%d: must not be negative", n.v)
		case n.max > 0 && n.v > n.max:
			ps.Addf(n.key, "%d: at most %d", n.v, n.max)
		}
	}
	if o.ChunkSize != 0 && (o.ChunkSize < minChunkSize || o.ChunkSize > maxChunkSize) {
		ps.Addf("chunk_size", "%d: want 4 KiB (4096) to 8 MiB (8388608)", o.ChunkSize)
	}
	for i, g := range o.Globs {
		if err := checkGlob(g); err != nil {
			ps.Addf(optcheck.Index("globs", i), "%s", err)
		}
	}
	if o.EventLog.Path != "" {
		if err := checkLogPath(o.EventLog.Path); err != nil {
			ps.Addf("eventlog.path", "%s", err)
		}
	}
	switch o.Encryption {
	case "", EncryptionAuto, EncryptionRequired:
	default:
		ps.Addf("encryption", "%q: want auto or required", o.Encryption)
	}
	if o.AdminShare != "" && strings.ContainsAny(o.AdminShare, `/\:`) {
		ps.Addf("admin_share", "%q: a share name, without slashes", o.AdminShare)
	}
	if err := smbauth.CheckAuth(o.Auth); err != nil {
		ps.Addf("auth", "%s", err)
	}
	for _, name := range slices.Sorted(maps.Keys(o.Credentials)) {
		c := o.Credentials[name]
		key := "credentials." + name
		ps.Add(key, c.Validate())
		if _, err := c.Resolve(); err != nil {
			var k string
			switch {
			case c.PasswordFile != "":
				k = ".password_file"
			case c.PasswordEnv != "":
				k = ".password_env"
			default:
				k = ".password"
			}
			ps.Addf(key+k, "%s", err)
		}
	}
	if o.LDAP != nil {
		if o.FleetDir != "" {
			ps.Addf("ldap", "set ldap or fleet_dir, not both")
		}
		ps.Add("ldap", o.LDAP.Validate())
		if err := o.LDAP.checkBind(o); err != nil {
			ps.Add("", err)
		}
	}
	if o.Inventory != "" && readInventory {
		ps.Add("inventory", o.checkInventory())
	}
	return ps.Err()
}

// checkInventory reads the inventory file and checks each host, and that the credentials
// the hosts name exist.
func (o Options) checkInventory() error {
	b, err := os.ReadFile(o.Inventory)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %w", o.Inventory, err)
	}
	f, lines, err := parseInventory(b)
	hosts := f.Hosts
	var ps optcheck.Problems
	if err != nil {
		for _, p := range optcheck.Of(err) {
			p.File = o.Inventory
			ps = append(ps, p)
		}
	}
	def := o.DefaultCredentials
	if def == "" {
		def = "default"
	}
	for i, h := range hosts {
		cn := h.Credentials
		if cn == "" {
			cn = def
		}
		if _, ok := o.Credentials[cn]; !ok {
			msg := fmt.Sprintf("host %q: no credentials named %q in fetcher.credentials (give it user and %s)", h.Name, cn, credentialsHelp)
			ps = append(ps, optcheck.Problem{File: o.Inventory, Line: lines[i], Msg: msg})
		}
	}
	return ps.Err()
}
