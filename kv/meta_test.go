package kv

import (
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"go.etcd.io/bbolt"
)

func TestMigrationsEndAtSchemaVersion(t *testing.T) {
	want := 1 // version 1 needs no migration
	for _, m := range migrations {
		if m.to != want+1 {
			t.Fatalf("migration to %d follows version %d", m.to, want)
		}
		want = m.to
	}
	if want != SchemaVersion {
		t.Fatalf("migrations end at version %d, SchemaVersion is %d", want, SchemaVersion)
	}
}

func TestMigrate(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "subgate.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var ran []int
	step := func(to int) migration {
		return migration{to: to, apply: func(tx *bbolt.Tx) error {
			ran = append(ran, to)
			return tx.Bucket(bucketMeta).Put([]byte("step"), []byte(strconv.Itoa(to)))
		}}
	}
	ms := []migration{step(2), step(3), step(4)}
	err = db.bolt.Update(func(tx *bbolt.Tx) error { return migrate(tx, 2, ms, db.log) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 4}; !slices.Equal(ran, want) {
		t.Fatalf("ran migrations %v, want %v", ran, want)
	}
	if got, _ := db.GetMeta(metaSchemaVersion); got != "4" {
		t.Fatalf("schema_version = %q, want 4", got)
	}

	// A gap in the list is an error, and the transaction rolls back.
	err = db.bolt.Update(func(tx *bbolt.Tx) error {
		return migrate(tx, 4, []migration{step(6)}, db.log)
	})
	if err == nil {
		t.Fatal("migrate over a gap succeeded")
	}
	if got, _ := db.GetMeta(metaSchemaVersion); got != "4" {
		t.Fatalf("schema_version = %q after failed migration, want 4", got)
	}
}
