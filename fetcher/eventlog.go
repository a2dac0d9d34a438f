package fetcher

import (
	"context"
	"io"
)

// EventLogPath is where Windows keeps the System event log below the admin share
// (%SystemRoot%\System32\winevt\Logs\System.evtx), unless the channel's logFileName or a
// policy moved it.
const EventLogPath = "System32/winevt/Logs/System.evtx"

// EventLogOpener is implemented by sessions that can open an event log while the EventLog
// service has it open for writing: read-only, sharing read and write with the writer (a
// reader that does not share write is refused with a sharing violation), uncached. name is
// '/'-separated and relative to the share (EventLogPath). The file's reads are bound to ctx;
// Size is its size when opened, taken from the open handle. A log that is not there is an
// error matching fs.ErrNotExist.
type EventLogOpener interface {
	OpenEventLog(ctx context.Context, name string) (LogFile, error)
}

// LogFile is an open event log.
type LogFile interface {
	io.ReaderAt
	Size() int64
	Close() error
}
