// Package reqlog writes the gateway's one log line per finished request
// cheaply, and owns the log destination that slog's handler shares.
//
// A Writer sits between the process's log destination (stderr) and its two
// producers. Lines from slog (the handler built on the Writer) pass straight
// through, one Write per line, as before. Request lines are encoded by hand —
// no reflection, no slog.Attr, no fmt — on the request's goroutine into a
// small stack buffer, then appended to a batch under a short lock; a goroutine
// the Writer owns writes the batch when it reaches FlushBytes or FlushInterval
// after its first line, and at Close. The lines are the ones slog's
// JSONHandler (format JSON) or tint's handler with TimeFormat
// time.TimeOnly and colours (format Text) writes for the same record:
// Entry.Record is that record, and the tests compare both outputs byte for
// byte.
//
// Invariants:
//   - The request path never blocks on log I/O and never allocates (for
//     lines up to lineBuf bytes): Log takes only the batch lock, whose
//     holders copy bytes and nothing else.
//   - Lines never interleave: every write to the destination, slog's or a
//     batch, happens under one I/O mutex and consists of whole lines.
//   - Memory is bounded: a batch never exceeds MaxBytes, and there are two
//     (one filling, one being written); past it lines are dropped and
//     counted (Stats.Dropped), as are the lines of a batch the destination
//     failed to take.
//   - Order: before a slog line is written, the pending batch is written, so
//     the output keeps the order in which lines were produced.
//   - The flushing goroutine is started by New and ended by Close, which
//     writes what is pending. Lines logged after Close are written at once.
//
// Caveats:
//   - slog's lines are not batched: they block on a stuck destination as a
//     direct write would, and wait for a batch being written.
//   - A request line waits up to FlushInterval before it reaches the
//     destination; a process that dies without Close loses that much.
//   - Text format: a string that tint would print raw or re-insert ESC into
//     (tint re-inserts raw ESC bytes into quoted strings) is printed quoted
//     with ESC as \x1b instead, so a client-chosen model name cannot drive
//     the terminal. Every other string matches tint.
//   - A line longer than MaxBytes can never be written; it is dropped and
//     counted like any other.
package reqlog
