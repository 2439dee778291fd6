package kv

import (
	"encoding/hex"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// keyValue is a Key as stored: keyed by name in the keys bucket, JSON
// with a "v" field.
type keyValue struct {
	V int `json:"v"`
	Key
}

func (e *keyValue) version() int { return e.V }

// PutKey inserts or replaces the key with k.Name. Hash must be 64 hex
// digits and no other key may have it (ErrExists). A zero Created keeps
// the stored key's stamp, or is set to now for a new key.
func (db *DB) PutKey(k Key) error {
	if k.Name == "" {
		return errors.New("kv: key without a name")
	}
	if raw, err := hex.DecodeString(k.Hash); err != nil || len(raw) != 32 {
		return fmt.Errorf("kv: key %q: hash is not a hex sha256", k.Name)
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		old, err := getKey(tx, k.Name)
		switch {
		case err == nil:
			if k.Created.IsZero() {
				k.Created = old.Created
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if k.Created.IsZero() {
			k.Created = db.now()
		}
		if err := checkHashFree(tx, k); err != nil {
			return err
		}
		what := fmt.Sprintf("key %q", k.Name)
		return putValue(tx.Bucket(bucketKeys), k.Name, &keyValue{V: valueVersion, Key: k}, what)
	})
}

// checkHashFree fails when a key other than k has k's hash: one secret
// must authenticate exactly one key.
func checkHashFree(tx *bbolt.Tx, k Key) error {
	return tx.Bucket(bucketKeys).ForEach(func(name, v []byte) error {
		if string(name) == k.Name {
			return nil
		}
		var e keyValue
		if err := decodeValue(v, &e, fmt.Sprintf("key %q", name)); err != nil {
			return err
		}
		if e.Hash == k.Hash {
			return fmt.Errorf("key %q has the same secret as key %q: %w", k.Name, name, ErrExists)
		}
		return nil
	})
}

// GetKey returns the key called name, or an error wrapping ErrNotFound.
func (db *DB) GetKey(name string) (Key, error) {
	var k Key
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		k, err = getKey(tx, name)
		return err
	})
	return k, err
}

// DeleteKey removes the key called name, or returns an error wrapping
// ErrNotFound. Its ledger records and rollups stay.
func (db *DB) DeleteKey(name string) error {
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("key %q: %w", name, ErrNotFound)
		}
		if err := b.Delete([]byte(name)); err != nil {
			return fmt.Errorf("kv: delete key %q: %w", name, err)
		}
		return nil
	})
}

// Keys returns every stored key, sorted by name.
func (db *DB) Keys() ([]Key, error) {
	var list []Key
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		// bbolt iterates in byte order, which is Go's string order.
		return tx.Bucket(bucketKeys).ForEach(func(name, v []byte) error {
			var e keyValue
			if err := decodeValue(v, &e, fmt.Sprintf("key %q", name)); err != nil {
				return err
			}
			list = append(list, e.Key)
			return nil
		})
	})
	return list, err
}

func getKey(tx *bbolt.Tx, name string) (Key, error) {
	raw := tx.Bucket(bucketKeys).Get([]byte(name))
	if raw == nil {
		return Key{}, fmt.Errorf("key %q: %w", name, ErrNotFound)
	}
	var e keyValue
	if err := decodeValue(raw, &e, fmt.Sprintf("key %q", name)); err != nil {
		return Key{}, err
	}
	return e.Key, nil
}
