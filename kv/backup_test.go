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

// A read-only open takes bbolt's shared flock, which the exclusive lock of
// an open DB excludes: Snapshot cannot read a file a server holds. flock
// locks belong to the open file description, so the second open in this
// process conflicts just as another process's would.
func TestSnapshotLocked(t *testing.T) {
	db := kvtest.Open(t)
	start := time.Now()
	_, err := kv.Snapshot(db.Path(), &bytes.Buffer{})
	if !errors.Is(err, kv.ErrLocked) {
		t.Fatalf("Snapshot of an open database = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Snapshot took %v to give up, want about 1s", d)
	}
}

// backupFixture writes a closed database with an encrypted account and 10
// records and returns its path.
func backupFixture(t *testing.T, key []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, key)
	if err := db.PutAccount(kv.Account{Name: "a1", Platform: "openai", APIKey: "sk-backup"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Append(records(t0, 10), nil); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	return path
}

func TestSnapshotRestore(t *testing.T) {
	key := testKey(5)
	path := backupFixture(t, key)
	snap := filepath.Join(t.TempDir(), "snap.db")
	f, err := os.Create(snap)
	if err != nil {
		t.Fatal(err)
	}
	info, err := kv.Snapshot(path, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Schema != kv.SchemaVersion || !info.Encrypted || info.Accounts != 1 || info.Records != 10 || info.Size == 0 {
		t.Fatalf("Snapshot info = %+v", info)
	}

	// Change the live database, then restore the snapshot over it.
	db := openKey(t, path, key)
	if err := db.DeleteAccount("a1"); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	r, err := kv.Restore(path, snap, key)
	if err != nil {
		t.Fatal(err)
	}
	if r.Accounts != 1 || r.Records != 10 || !strings.HasPrefix(r.Backup, path+".bak-") {
		t.Fatalf("Restore = %+v", r)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("restored mode = %v, want %v", got, want)
	}
	db = openKey(t, path, key)
	if a, err := db.GetAccount("a1"); err != nil || a.APIKey != "sk-backup" {
		t.Fatalf("restored account = %+v, %v", a, err)
	}
	if last, err := db.Last(100); err != nil || len(last) != 10 {
		t.Fatalf("restored %d records, %v; want 10", len(last), err)
	}
	closeDB(t, db)
	old := openKey(t, r.Backup, key)
	if _, err := old.GetAccount("a1"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("kept old database has a1: %v", err)
	}
	closeDB(t, old)

	// A second restore within the same second keeps both old files.
	r2, err := kv.Restore(path, snap, key)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Backup == r.Backup {
		t.Fatalf("second restore reused the backup name %s", r.Backup)
	}
	if _, err := os.Stat(r.Backup); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreLocked(t *testing.T) {
	src := backupFixture(t, nil)
	db := kvtest.Open(t)
	if _, err := kv.Restore(db.Path(), src, nil); !errors.Is(err, kv.ErrLocked) {
		t.Fatalf("Restore over an open database = %v, want ErrLocked", err)
	}
	if _, err := db.GetMeta("schema_version"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(db.Path()))
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries after a refused restore, want 1", len(entries))
	}
}

func TestRestoreRejects(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("x"), 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	newer := filepath.Join(dir, "newer.db")
	for p, version := range map[string]string{foreign: "", newer: strconv.Itoa(kv.SchemaVersion + 1)} {
		raw, err := bbolt.Open(p, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = raw.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket([]byte("meta"))
			if err != nil || version == "" {
				return err
			}
			return b.Put([]byte("schema_version"), []byte(version))
		})
		raw.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	encrypted := backupFixture(t, testKey(7))

	tests := []struct {
		name, src string
		key       []byte
		want      error
		msg       string
	}{
		{"garbage", garbage, nil, nil, "invalid"},
		{"foreign", foreign, nil, nil, "not a subgate database"},
		{"newer", newer, nil, kv.ErrTooNew, "supports up to"},
		{"missing", filepath.Join(dir, "nope.db"), nil, os.ErrNotExist, "nope.db"},
		{"no key", encrypted, nil, kv.ErrNoMasterKey, "no master key"},
		{"wrong key", encrypted, testKey(8), kv.ErrWrongMasterKey, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := backupFixture(t, nil)
			before, _ := os.ReadFile(path)
			_, err := kv.Restore(path, tt.src, tt.key)
			if err == nil {
				t.Fatal("Restore succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.msg)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("refused restore changed the database")
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("data dir holds %d entries after a refused restore, want 1", len(entries))
			}
		})
	}
}

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, nil)
	for i := range 20 {
		if err := db.Append(records(t0.Add(time.Duration(i)*time.Hour), 1000), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.DeleteBefore(t0.Add(19*time.Hour), 1<<20); err != nil || n != 19000 {
		t.Fatalf("DeleteBefore = %d, %v", n, err)
	}
	if err := db.PutAccount(kv.Account{Name: "a1"}); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)

	before, after, err := kv.Compact(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after >= before || fi.Size() != after {
		t.Fatalf("Compact sizes %d → %d, file now %d; want smaller", before, after, fi.Size())
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("compacted mode = %v, want %v", got, want)
	}
	db = openKey(t, path, nil)
	if last, err := db.Last(5000); err != nil || len(last) != 1000 {
		t.Fatalf("compacted file has %d records, %v; want 1000", len(last), err)
	}
	if _, err := db.GetAccount("a1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Compact(path); !errors.Is(err, kv.ErrLocked) {
		t.Fatalf("Compact of an open database = %v, want ErrLocked", err)
	}
	closeDB(t, db)
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("data dir holds %d entries after compaction, want 1", len(entries))
	}
}

// An Open waiting for the lock while Compact or Restore renames a new file
// over the path opens the new file, not the old one it first found.
func TestOpenFollowsReplacedFile(t *testing.T) {
	dir := t.TempDir()
	path, next := filepath.Join(dir, "subgate.db"), filepath.Join(dir, "next.db")
	db := openKey(t, next, nil)
	if err := db.PutAccount(kv.Account{Name: "new"}); err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	old := openKey(t, path, nil)

	opened := make(chan *kv.DB, 1)
	go func() {
		db, err := kv.Open(path, kv.Options{})
		if err != nil {
			t.Error(err)
		}
		opened <- db
	}()
	time.Sleep(200 * time.Millisecond) // the Open above waits for old's lock
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	closeDB(t, old)
	db = <-opened
	if db == nil {
		return
	}
	defer db.Close()
	if _, err := db.GetAccount("new"); err != nil {
		t.Fatalf("Open kept the replaced file: %v", err)
	}
}
