package webui

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"subgate/ledger"
)

// seedUsage stores n records, one every 15 minutes up to now: keys alice
// and bob alternate, every fifth fails with 500, every seventh is refused.
func seedUsage(hs *harness, n int) []ledger.Record {
	now := hs.clock.now()
	recs := make([]ledger.Record, n)
	for i := range recs {
		r := ledger.Record{Time: now.Add(-time.Duration(n-i) * 15 * time.Minute), Key: "alice",
			Account: "claude-1", Model: "claude-sonnet-4-5", UpstreamModel: "claude-sonnet-4-5", Status: 200,
			Usage:      ledger.Usage{InputTokens: 1000, OutputTokens: 200, CacheReadTokens: 5000},
			CostMicros: 12_000, ListMicros: 12_000, Duration: 1500 * time.Millisecond}
		if i%2 == 1 {
			r.Key, r.Model, r.Account = "bob", "gpt-5", "openai-1"
		}
		if i%5 == 4 {
			r.Status, r.Error = 500, "upstream overloaded"
		}
		if i%7 == 6 {
			r.Refused, r.Status, r.Account = true, 429, ""
		}
		recs[i] = r
	}
	hs.store.seed(recs...)
	return recs
}

func records(t *testing.T, r *response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, x := range r.json(t)["records"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func TestUsageNewestFirst(t *testing.T) {
	hs := newHarness(t)
	recs := seedUsage(hs, 40)
	r := hs.send("GET", "/admin/api/usage?limit=3", nil).must(t, 200)
	got := records(t, r)
	if len(got) != 3 {
		t.Fatalf("%d records, want 3", len(got))
	}
	last := recs[len(recs)-1]
	if ts, _ := time.Parse(time.RFC3339Nano, got[0]["time"].(string)); !ts.Equal(last.Time) {
		t.Errorf("first record at %v, want the newest %v", ts, last.Time)
	}
	for _, f := range []string{"key", "account", "model", "upstream_model", "input_tokens", "output_tokens",
		"cache_creation_tokens", "cache_read_tokens", "cost_usd", "stream", "status", "duration_ms", "ttft_ms"} {
		if _, ok := got[0][f]; !ok {
			t.Errorf("record lacks %s", f)
		}
	}
	if got[0]["cost_usd"] != 0.012 {
		t.Errorf("cost_usd = %v", got[0]["cost_usd"])
	}
	for _, q := range []string{"limit=0", "limit=x", "limit=10001"} {
		if f := hs.send("GET", "/admin/api/usage?"+q, nil).must(t, 400).errField(t); f != "limit" {
			t.Errorf("%s: field %q", q, f)
		}
	}
	for q, field := range map[string]string{"status=bogus": "status", "from=yesterday": "from",
		"to=13": "", "before=abc": "before", "from=2026-02-01&to=2026-01-01": "to"} {
		r := hs.send("GET", "/admin/api/usage?"+q, nil)
		if field == "" {
			r.must(t, 200)
			continue
		}
		if f := r.must(t, 400).errField(t); f != field {
			t.Errorf("%s: field %q, want %q", q, f, field)
		}
	}
}

func TestUsageFiltersAndPaging(t *testing.T) {
	hs := newHarness(t)
	recs := seedUsage(hs, 200) // 50 hours: paging crosses several scan slices
	for _, c := range []struct {
		query string
		match func(*ledger.Record) bool
	}{
		{"key=bob", func(r *ledger.Record) bool { return r.Key == "bob" }},
		{"status=error", func(r *ledger.Record) bool { return r.Status >= 500 && !r.Refused }},
		{"status=refused&key=alice", func(r *ledger.Record) bool { return r.Refused && r.Key == "alice" }},
		{"status=200&model=gpt-5", func(r *ledger.Record) bool { return r.Status == 200 && r.Model == "gpt-5" }},
		{"account=claude-1&from=" + recs[100].Time.Format(time.RFC3339Nano), func(r *ledger.Record) bool {
			return r.Account == "claude-1" && !r.Time.Before(recs[100].Time)
		}},
		{"to=" + strconv.FormatInt(recs[50].Time.Unix(), 10), func(r *ledger.Record) bool { return r.Time.Before(recs[50].Time.Truncate(time.Second)) }},
		{"", func(*ledger.Record) bool { return true }},
	} {
		var want []time.Time
		for i := len(recs) - 1; i >= 0; i-- {
			if c.match(&recs[i]) {
				want = append(want, recs[i].Time)
			}
		}
		var got []time.Time
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("%s: paging does not end", c.query)
			}
			r := hs.send("GET", "/admin/api/usage?limit=7&"+c.query+cursor, nil).must(t, 200)
			for _, m := range records(t, r) {
				ts, _ := time.Parse(time.RFC3339Nano, m["time"].(string))
				got = append(got, ts)
			}
			next, _ := r.json(t)["next_before"].(string)
			if next == "" {
				break
			}
			cursor = "&before=" + next
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", c.query, len(got), len(want))
		}
		for i := range got {
			if !got[i].Equal(want[i]) {
				t.Fatalf("%s: record %d at %v, want %v", c.query, i, got[i], want[i])
			}
		}
	}
}

func TestUsageExportCSV(t *testing.T) {
	hs := newHarness(t)
	recs := seedUsage(hs, 30)
	hs.store.seed(ledger.Record{Time: hs.clock.now().Add(-time.Minute), Key: "alice", Model: "=HYPERLINK(\"x\")", Status: 200})
	r := hs.send("GET", "/admin/api/usage/export?format=csv", nil).must(t, 200)
	if !strings.HasPrefix(r.header["Content-Type"], "text/csv") || !strings.Contains(r.header["Content-Disposition"], ".csv") {
		t.Errorf("headers %v", r.header)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(recs)+2 || strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	if got, want := rows[1][0], recs[0].Time.UTC().Format(time.RFC3339Nano); got != want {
		t.Errorf("first row time %s, want the oldest %s", got, want)
	}
	if got := rows[len(rows)-1][4]; !strings.HasPrefix(got, "'=") {
		t.Errorf("formula not neutralized: %q", got)
	}
	r = hs.send("GET", "/admin/api/usage/export?format=csv&key=bob&status=ok", nil).must(t, 200)
	rows, _ = csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	for _, row := range rows[1:] {
		if row[1] != "bob" || row[6] != "200" {
			t.Fatalf("filtered export has %v", row)
		}
	}
	if f := hs.send("GET", "/admin/api/usage/export?format=xml", nil).must(t, 400).errField(t); f != "format" {
		t.Errorf("format: field %q", f)
	}
}

func TestUsageExportJSONL(t *testing.T) {
	hs := newHarness(t)
	seedUsage(hs, 2000)
	from := hs.clock.now().Add(-100 * time.Hour).Format(time.RFC3339)
	r := hs.send("GET", "/admin/api/usage/export?format=jsonl&from="+from, nil).must(t, 200)
	if r.header["Content-Type"] != "application/x-ndjson" {
		t.Errorf("Content-Type %q", r.header["Content-Type"])
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		n++
	}
	if n != 400 { // 100 hours at 4 records an hour
		t.Fatalf("%d lines, want 400", n)
	}
}

// A ledger failure mid-export must break the download, not end it as if
// it were complete.
func TestUsageExportFailureAbortsTheBody(t *testing.T) {
	hs := newHarness(t)
	hs.stats.ExportFn = func(from, to time.Time, fn func(ledger.Record) bool) error {
		for i := range 5000 {
			if !fn(ledger.Record{Time: from.Add(time.Duration(i)), Key: "k", Status: 200}) {
				return nil
			}
		}
		return errors.New("disk on fire")
	}
	r := hs.send("GET", "/admin/api/usage/export?format=csv", nil)
	if r.err == nil {
		t.Fatalf("export completed (%d bytes) despite a ledger error", len(r.body))
	}
}

func TestBackup(t *testing.T) {
	hs := newHarness(t)
	hs.send("GET", "/admin/api/backup", nil).must(t, 404)
	data := bytes.Repeat([]byte("bbolt"), 100_000)
	hs = newHarness(t, func(c *Config) {
		c.Backup = func(w io.Writer) (int64, error) {
			n, err := w.Write(data)
			return int64(n), err
		}
	})
	r := hs.send("GET", "/admin/api/backup", nil).must(t, 200)
	if !bytes.Equal(r.body, data) || !strings.Contains(r.header["Content-Disposition"], "subgate-") {
		t.Fatalf("backup: %d bytes, headers %v", len(r.body), r.header)
	}
}
