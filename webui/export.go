package webui

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/ledger"
)

var csvHeader = []string{
	"time", "key", "account", "platform", "model", "upstream_model", "status", "stream",
	"input_tokens", "output_tokens", "cache_creation_tokens", "cache_creation_5m_tokens",
	"cache_creation_1h_tokens", "cache_read_tokens", "cost_usd", "list_usd",
	"duration_ms", "ttft_ms", "refused", "intercepted", "request_id", "error", "estimated",
}

// csvRow renders one record as CSV fields.
func csvRow(r *ledger.Record, row []string) []string {
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	money := func(m int64) string { return strconv.FormatFloat(ledger.MicrosToUSD(m), 'f', 6, 64) }
	return append(row[:0],
		r.Time.UTC().Format(time.RFC3339Nano), csvSafe(r.Key), csvSafe(r.Account), csvSafe(r.Platform),
		csvSafe(r.Model), csvSafe(r.UpstreamModel), strconv.Itoa(r.Status), strconv.FormatBool(r.Stream),
		i64(r.InputTokens), i64(r.OutputTokens), i64(r.CacheCreationTokens), i64(r.CacheCreation5m),
		i64(r.CacheCreation1h), i64(r.CacheReadTokens), money(r.CostMicros), money(r.ListMicros),
		i64(r.Duration.Milliseconds()), i64(r.TTFT.Milliseconds()), strconv.FormatBool(r.Refused),
		strconv.FormatBool(r.Intercepted), csvSafe(r.RequestID), csvSafe(r.Error), strconv.FormatBool(r.Estimated))
}

// csvSafe keeps a spreadsheet from running a client-chosen model name as
// a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// export serves GET /admin/api/usage/export?from&to&format=csv|jsonl
// (plus the usage filters): records in time order, streamed as they are
// read, never all in memory.
func (h *Handler) export(ctx *fasthttp.RequestCtx, _ []string) {
	f, ok := h.parseFilter(ctx)
	if !ok {
		return
	}
	format := string(ctx.QueryArgs().Peek("format"))
	switch format {
	case "":
		format = "csv"
	case "csv", "jsonl":
	default:
		badField(ctx, "format", "want csv or jsonl")
		return
	}
	st := h.cfg.Ledger
	if st == nil {
		writeError(ctx, fasthttp.StatusNotFound, "no ledger", "")
		return
	}
	from := f.from
	if from.IsZero() {
		from = time.Unix(0, 0)
	}
	name := "subgate-usage-" + from.UTC().Format("20060102") + "-" + f.to.UTC().Format("20060102") + "." + format
	if format == "csv" {
		ctx.SetContentType("text/csv; charset=utf-8")
	} else {
		ctx.SetContentType("application/x-ndjson")
	}
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.stream(ctx, "usage export", func(w io.Writer) error {
		var write func(*ledger.Record) error
		var flush func() error
		if format == "csv" {
			cw := csv.NewWriter(w)
			if err := cw.Write(csvHeader); err != nil {
				return err
			}
			row := make([]string, 0, len(csvHeader))
			write = func(r *ledger.Record) error { return cw.Write(csvRow(r, row)) }
			flush = func() error { cw.Flush(); return cw.Error() }
		} else {
			enc := json.NewEncoder(w)
			write = func(r *ledger.Record) error { return enc.Encode(recordView(r)) }
			flush = func() error { return nil }
		}
		var werr error
		err := st.Export(from, f.to, func(r ledger.Record) bool {
			if f.match(&r) {
				werr = write(&r)
			}
			return werr == nil
		})
		return errors.Join(werr, err, flush())
	})
}

// backup serves GET /admin/api/backup: a consistent snapshot of the data
// file, streamed.
func (h *Handler) backup(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Backup == nil {
		writeError(ctx, fasthttp.StatusNotFound, "backup is not available", "")
		return
	}
	name := "subgate-" + h.now().UTC().Format("20060102-150405") + ".db"
	ctx.SetContentType("application/octet-stream")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	fn := h.cfg.Backup
	h.log.Info("admin backup")
	h.stream(ctx, "backup", func(w io.Writer) error {
		_, err := fn(w)
		return err
	})
}

// stream answers with what produce writes, run in its own goroutine
// through a pipe that fasthttp reads as a chunked body. When produce
// fails, the pipe's error aborts the response, so the client sees a
// broken download instead of a complete-looking truncated file. When the
// client goes away, fasthttp closes the pipe and produce's writes fail.
// The goroutine ends with produce; fasthttp closes the pipe when it is
// done with the response, whatever happens.
func (h *Handler) stream(ctx *fasthttp.RequestCtx, what string, produce func(w io.Writer) error) {
	pr, pw := io.Pipe()
	log := h.log
	conn, timeout := ctx.Conn(), h.cfg.WriteTimeout
	go func() {
		tw := &trackWriter{w: pw, conn: conn, timeout: timeout}
		bw := bufio.NewWriterSize(tw, 32<<10)
		err := produce(bw)
		if err == nil {
			err = bw.Flush()
		}
		switch {
		case tw.err != nil:
			log.Debug("admin "+what+" aborted by the client", "err", tw.err)
		case err != nil:
			log.Error("admin "+what, "err", err)
		}
		_ = pw.CloseWithError(err)
	}()
	ctx.SetBodyStream(pr, -1)
}

// trackWriter remembers the first write error, to tell a client that
// went away from a failing producer. Before each write it moves the
// connection's write deadline timeout ahead: the server's write timeout
// bounds one reply, and a download may rightly take longer, but a client
// that takes nothing for timeout is cut.
type trackWriter struct {
	w       io.Writer
	err     error
	conn    net.Conn
	timeout time.Duration
}

func (t *trackWriter) Write(p []byte) (int, error) {
	if t.conn != nil && t.timeout > 0 {
		_ = t.conn.SetWriteDeadline(time.Now().Add(t.timeout))
	}
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}
