package kv

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"go.etcd.io/bbolt"
)

// SchemaVersion is the version of the bucket layout and value encodings
// this binary writes. It is stored under metaSchemaVersion in the meta
// bucket; Open refuses a file with a higher number.
const SchemaVersion = 2

// metaSchemaVersion is the meta key holding the schema version in decimal.
const metaSchemaVersion = "schema_version"

// migration upgrades a database from schema version to-1 to version to.
type migration struct {
	to    int
	apply func(tx *bbolt.Tx) error
}

// migrations lists the upgrades after version 1, in order; the last one's
// to must equal SchemaVersion. A migration runs in the same transaction
// as bucket creation, after every bucket in allBuckets exists.
var migrations = []migration{
	{to: 2, apply: migrateRollups},
}

// schemaVersion reads the stored schema version; 0 means a new file.
func schemaVersion(tx *bbolt.Tx) (int, error) {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0, nil
	}
	raw := b.Get([]byte(metaSchemaVersion))
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("kv: bad %s %q in meta bucket", metaSchemaVersion, raw)
	}
	return v, nil
}

// migrate brings a database at version have up to date with ms and stores
// the resulting version. A new file (have == 0) already has the current
// layout and only gets the version stamp.
func migrate(tx *bbolt.Tx, have int, ms []migration, log *slog.Logger) error {
	v := have
	if have == 0 {
		v = SchemaVersion
	}
	for _, m := range ms {
		if m.to <= v {
			continue
		}
		if m.to != v+1 {
			return fmt.Errorf("kv: no migration from schema version %d to %d", v, m.to-1)
		}
		if err := m.apply(tx); err != nil {
			return fmt.Errorf("kv: migrate schema to version %d: %w", m.to, err)
		}
		log.Info("kv migrated schema", "from", v, "to", m.to)
		v = m.to
	}
	if v == have {
		return nil
	}
	return putMeta(tx, metaSchemaVersion, strconv.Itoa(v))
}

// GetMeta returns the value stored under key in the meta bucket, or
// ErrNotFound.
func (db *DB) GetMeta(key string) (string, error) {
	var v string
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketMeta).Get([]byte(key))
		if raw == nil {
			return fmt.Errorf("meta %q: %w", key, ErrNotFound)
		}
		v = string(raw) // copies out of the tx
		return nil
	})
	return v, err
}

// PutMeta stores value under key in the meta bucket. The schema version
// and master key check keys are reserved for Open and RotateKey.
func (db *DB) PutMeta(key, value string) error {
	if key == "" {
		return errors.New("kv: empty meta key")
	}
	if key == metaSchemaVersion || key == metaKeyCheck {
		return fmt.Errorf("kv: meta key %q is reserved", key)
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		return putMeta(tx, key, value)
	})
}

func putMeta(tx *bbolt.Tx, key, value string) error {
	if err := tx.Bucket(bucketMeta).Put([]byte(key), []byte(value)); err != nil {
		return fmt.Errorf("kv: put meta %q: %w", key, err)
	}
	return nil
}

// valueVersion is the "v" field of every JSON value kv writes. A change to
// a value's shape that old code cannot read bumps it, together with
// SchemaVersion and a migration that rewrites the old values.
const valueVersion = 1

// envelope is a stored JSON value: an entity plus its "v" field.
type envelope interface{ version() int }

// decodeValue unmarshals a stored value into e and checks its version.
// json.Unmarshal copies, so e never aliases the transaction's memory.
func decodeValue(data []byte, e envelope, what string) error {
	if err := json.Unmarshal(data, e); err != nil {
		return fmt.Errorf("kv: decode %s: %w", what, err)
	}
	if v := e.version(); v != valueVersion {
		return fmt.Errorf("kv: %s has value version %d, want %d", what, v, valueVersion)
	}
	return nil
}

// putValue marshals e and stores it under key in b.
func putValue(b *bbolt.Bucket, key string, e envelope, what string) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("kv: encode %s: %w", what, err)
	}
	if err := b.Put([]byte(key), data); err != nil {
		return fmt.Errorf("kv: put %s: %w", what, err)
	}
	return nil
}
