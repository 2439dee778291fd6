package kv

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// bucketIdentity holds account name → the JSON identity document of
// proxy/identity (opaque here, so kv does not import that package) in a
// {"v":1,"identity":…} envelope. Identities are kept for config accounts too and outlive a
// deleted account, so an account added back under its name is the same
// device again. The salt is stored in plaintext even with a master key:
// it is not a credential (it only links upstream session ids to client
// ones), and RotateKey rewrites only the credential buckets.
var bucketIdentity = []byte("identity")

// identityValue is an identity as stored, JSON with a "v" field.
type identityValue struct {
	V   int             `json:"v"`
	Doc json.RawMessage `json:"identity"`
}

func (e *identityValue) version() int { return e.V }

// SaveIdentity replaces the stored identity document of the account
// called name; doc must be a JSON value.
func (db *DB) SaveIdentity(name string, doc []byte) error {
	if name == "" {
		return errors.New("kv: identity without an account name")
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		return putValue(tx.Bucket(bucketIdentity), name, &identityValue{V: valueVersion, Doc: doc},
			fmt.Sprintf("identity %q", name))
	})
}

// LoadIdentity returns the stored identity document of the account called
// name; ok is false when none was ever saved.
func (db *DB) LoadIdentity(name string) (doc []byte, ok bool, err error) {
	err = db.bolt.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketIdentity).Get([]byte(name))
		if raw == nil {
			return nil
		}
		var e identityValue
		if err := decodeValue(raw, &e, fmt.Sprintf("identity %q", name)); err != nil {
			return err
		}
		doc, ok = append([]byte(nil), e.Doc...), true
		return nil
	})
	return doc, ok, err
}

// DeleteIdentity removes the stored identity of the account called name,
// or returns an error wrapping ErrNotFound. An account registered again
// afterwards gets a new device.
func (db *DB) DeleteIdentity(name string) error {
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketIdentity)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("identity %q: %w", name, ErrNotFound)
		}
		if err := b.Delete([]byte(name)); err != nil {
			return fmt.Errorf("kv: delete identity %q: %w", name, err)
		}
		return nil
	})
}
