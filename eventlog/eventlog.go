// Package eventlog reads Windows System event logs (.evtx files) and yields the events that
// tell about crashes as typed values: blue screens and the dumps they left (WER 1001),
// dumps that were not saved or could not be written (WER 1000/1004/1005/1006, volmgr
// 45/46/49/161/164), unexpected reboots (Kernel-Power 41, whose BugcheckCode tells a blue
// screen from a power loss) and shutdowns (EventLog 6008, with the last-alive time), and the
// boots and clean shutdowns that order them (Kernel-General 12/13, EventLog 6005/6006/6009).
//
// The reader is written here from the format's published facts (chunked file, binary XML
// with per-chunk string and template tables); it verifies both checksums of every chunk,
// never trusts the file header (on a live log it lags the chunks), and never panics on
// damaged input: what can be read is returned, what cannot is said in one-line warnings.
// ReadSince reads only what is new since a Mark, so a poller can read a live log over SMB
// on every sweep for the price of two small reads when nothing changed. Correlate matches a
// host's events with the dumps found on it: which crash left which dump, which blue screens
// left none and why, which reboots were unexpected without a bugcheck.
package eventlog
