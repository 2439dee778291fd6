// Package kvtest opens throwaway kv databases for tests.
package kvtest

import (
	"path/filepath"
	"testing"

	"subgate/kv"
)

// Open opens a new database in t.TempDir(). At cleanup it checks the
// file's consistency and closes it, failing the test on any problem.
func Open(t testing.TB) *kv.DB {
	t.Helper()
	db, err := kv.Open(filepath.Join(t.TempDir(), "subgate.db"), kv.Options{})
	if err != nil {
		t.Fatalf("kvtest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil {
			t.Errorf("kvtest: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("kvtest: %v", err)
		}
	})
	return db
}
