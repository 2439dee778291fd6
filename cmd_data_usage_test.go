package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"subgate/kv"
	"subgate/ledger"
)

// usageRows parses the table cmdUsage prints: the first column of each
// row (after the header) to the rest of its columns.
func usageRows(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "usage of the last") {
		t.Fatalf("no usage table:\n%s", out)
	}
	rows := map[string]string{}
	for _, l := range lines[3:] { // title, blank line, header
		f := strings.Fields(l)
		if len(f) > 1 {
			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return rows
}

func TestUsageCommand(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Server.DataDir = t.TempDir()
	db, err := kv.Open(dbPath(cfg), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(ledger.Config{Store: db})
	now := time.Now()
	// Sonnet at $3/$15 per million: 100k in + 10k out is $0.45 a request.
	for i, r := range []struct{ key, account string }{{"alice", "a1"}, {"alice", "a2"}, {"bob", "a1"}} {
		led.Record(ledger.Record{Time: now.Add(-time.Duration(i) * time.Hour), Key: r.key, Account: r.account,
			Model: "claude-sonnet-4-5", Status: 200, Usage: ledger.Usage{InputTokens: 100_000, OutputTokens: 10_000}})
	}
	led.Record(ledger.Record{Time: now, Key: "bob", Model: "claude-sonnet-4-5", Status: 429, Refused: true})
	led.Close()
	db.Close()

	for _, tt := range []struct {
		by   string
		want map[string]string // row → requests errors refused input output cache-write cache-read charged list
	}{
		{"key", map[string]string{
			"alice": "2 0 0 200000 20000 0 0 $0.90 $0.90",
			"bob":   "2 0 1 100000 10000 0 0 $0.45 $0.45",
			"total": "4 0 1 300000 30000 0 0 $1.35 $1.35",
		}},
		{"account", map[string]string{
			"a1":    "2 0 0 200000 20000 0 0 $0.90 $0.90",
			"a2":    "1 0 0 100000 10000 0 0 $0.45 $0.45",
			"total": "4 0 1 300000 30000 0 0 $1.35 $1.35",
		}},
	} {
		var out bytes.Buffer
		if err := cmdUsage(context.Background(), cfg, []string{"--days", "7", "--by", tt.by}, &out); err != nil {
			t.Fatal(err)
		}
		rows := usageRows(t, out.String())
		for name, want := range tt.want {
			if got := rows[name]; got != want {
				t.Errorf("--by %s: row %s = %q, want %q\n%s", tt.by, name, got, want, out.String())
			}
		}
	}
	var out bytes.Buffer
	if err := cmdUsage(context.Background(), cfg, []string{"--by", "nope"}, &out); err == nil {
		t.Errorf("--by nope accepted")
	}
}
