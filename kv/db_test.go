package kv_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"subgate/kv"
	"subgate/kv/kvtest"

	"go.etcd.io/bbolt"
)

// mustOpen opens path and registers its Close.
func mustOpen(t *testing.T, path string) *kv.DB {
	t.Helper()
	db, err := kv.Open(path, kv.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenFileMode(t *testing.T) {
	db := kvtest.Open(t)
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("mode = %v, want %v", got, want)
	}
}

func TestOpenTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db, err := kv.Open(path, kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("mode = %v, want %v", got, want)
	}
}

func TestOpenLocked(t *testing.T) {
	db := kvtest.Open(t)
	start := time.Now()
	db2, err := kv.Open(db.Path(), kv.Options{})
	if err == nil {
		db2.Close()
		t.Fatal("second Open succeeded, want ErrLocked")
	}
	if !errors.Is(err, kv.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if got, want := err.Error(), "data dir in use by another subgate ("+db.Path()+")"; got != want {
		t.Fatalf("err = %q, want %q", got, want)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("second Open took %v, want about 1s", d)
	}
}

func TestOpenTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	newer := strconv.Itoa(kv.SchemaVersion + 1)
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema_version"), []byte(newer))
	})
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := kv.Open(path, kv.Options{})
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded, want ErrTooNew")
	}
	if !errors.Is(err, kv.ErrTooNew) {
		t.Fatalf("err = %v, want ErrTooNew", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, newer) || !strings.Contains(msg, strconv.Itoa(kv.SchemaVersion)) {
		t.Fatalf("err = %q, want both schema versions named", msg)
	}

	// The newer file must be left as it was: no buckets added.
	raw, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("accounts")) != nil {
			t.Error("Open of a newer file created buckets")
		}
		return nil
	})
}

func TestOpenStampsSchemaVersion(t *testing.T) {
	db := kvtest.Open(t)
	got, err := db.GetMeta("schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(kv.SchemaVersion); got != want {
		t.Fatalf("schema_version = %q, want %q", got, want)
	}
	if err := db.PutMeta("schema_version", "99"); err == nil {
		t.Fatal("PutMeta(schema_version) succeeded, want an error")
	}
}

func TestMeta(t *testing.T) {
	db := kvtest.Open(t)
	if _, err := db.GetMeta("instance"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("GetMeta(missing) err = %v, want ErrNotFound", err)
	}
	if err := db.PutMeta("instance", "abc"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetMeta("instance"); err != nil || got != "abc" {
		t.Fatalf("GetMeta = %q, %v; want %q", got, err, "abc")
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db, err := kv.Open(path, kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutAccount(kv.Account{Name: "a1", Platform: "anthropic"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, path)
	if _, err := db.GetAccount("a1"); err != nil {
		t.Fatalf("GetAccount after reopen: %v", err)
	}
}

func TestWriteTo(t *testing.T) {
	db := kvtest.Open(t)
	if err := db.PutAccount(kv.Account{Name: "a1", Platform: "openai"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(records(t0, 10), nil); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	n, err := db.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, int64(buf.Len()); got != want {
		t.Fatalf("WriteTo n = %d, wrote %d", got, want)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	backup := mustOpen(t, path)
	if err := backup.Check(); err != nil {
		t.Fatal(err)
	}
	if a, err := backup.GetAccount("a1"); err != nil || a.Platform != "openai" {
		t.Fatalf("backup GetAccount = %+v, %v", a, err)
	}
	last, err := backup.Last(100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(last), 10; got != want {
		t.Fatalf("backup has %d records, want %d", got, want)
	}
}
