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

func TestUsageCommand(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Server.DataDir = t.TempDir()
	db, err := kv.Open(dbPath(cfg), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(ledger.Config{Store: db})
	now := time.Now()
	for i, k := range []string{"alice", "alice", "bob"} {
		led.Record(ledger.Record{Time: now.Add(-time.Duration(i) * time.Hour), Key: k, Account: "a1",
			Model: "claude-sonnet-4-5", Status: 200, Usage: ledger.Usage{InputTokens: 1000, OutputTokens: 100}})
	}
	led.Close()
	db.Close()

	var out bytes.Buffer
	if err := cmdUsage(context.Background(), cfg, []string{"--days", "7"}, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"alice", "bob", "total", "$0.00"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// sonnet: 1000×3 + 100×15 = 4500 µUSD per request; alice made two.
	if !strings.Contains(got, "$0.01") {
		t.Errorf("alice's $0.009 should round to $0.01:\n%s", got)
	}
	if err := cmdUsage(context.Background(), cfg, []string{"--by", "nope"}, &out); err == nil {
		t.Errorf("--by nope accepted")
	}
}
