package kv

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"subgate/ledger"

	"go.etcd.io/bbolt"
)

// writeV1 makes a schema version 1 file as the first release wrote it:
// five buckets, JSON ledger values, no rollups or keys bucket.
func writeV1(t *testing.T, path string, recs []ledger.Record) {
	t.Helper()
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	err = raw.Update(func(tx *bbolt.Tx) error {
		for _, name := range []string{"meta", "accounts", "tokens", "state", "ledger"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("1")); err != nil {
			return err
		}
		b := tx.Bucket([]byte("ledger"))
		for _, r := range recs {
			seq, _ := b.NextSequence()
			data, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put(ledgerKey(r.Time, seq), append([]byte{recordFormatJSON}, data...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	h := time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)
	var recs []ledger.Record
	for i := range 5000 { // more than one backfill chunk
		recs = append(recs, ledger.Record{Time: h.Add(time.Duration(i) * time.Second), Key: "k", Account: "a",
			Model: "claude-sonnet-4-5", CostMicros: 3, ListMicros: 2, Status: 200, RequestID: "r"})
	}
	writeV1(t, path, recs)

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.GetMeta(metaSchemaVersion); v != "2" {
		t.Fatalf("schema_version = %q, want 2", v)
	}
	var rollups []ledger.Rollup
	if err := db.Rollups(time.Time{}, h.Add(24*time.Hour), func(r ledger.Rollup) bool {
		rollups = append(rollups, r)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	// 3600 records in the first hour, 1400 in the second.
	if len(rollups) != 2 || rollups[0].Requests != 3600 || rollups[1].Requests != 1400 ||
		rollups[0].CostMicros != 3*3600 || rollups[1].ListMicros != 2*1400 {
		t.Fatalf("backfilled rollups = %+v", rollups)
	}
	// Old JSON records and new binary ones read side by side.
	more := []ledger.Record{{Time: h.Add(2 * time.Hour), Key: "k", CostMicros: 1}}
	if err := db.Append(more, ledger.Aggregate(more)); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := db.Scan(time.Time{}, h.Add(24*time.Hour), func(r ledger.Record) bool {
		if r.Key != "k" {
			t.Fatalf("record %d: %+v", n, r)
		}
		n++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != 5001 {
		t.Fatalf("scanned %d records, want 5001", n)
	}
	if err := db.PutKey(Key{Name: "x", Hash: strings.Repeat("ab", 32)}); err != nil {
		t.Fatalf("keys bucket missing after migration: %v", err)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Opening again does not backfill twice.
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var total int64
	db2.Rollups(time.Time{}, h.Add(24*time.Hour), func(r ledger.Rollup) bool { total += r.Requests; return true })
	if total != 5001 {
		t.Fatalf("rollups count %d requests after reopen, want 5001", total)
	}
}
