package kv

import (
	"encoding/json"

	"go.etcd.io/bbolt"
)

// bucketErrorRules holds the error rules added in the admin UI: one
// document under errorRulesKey in a {"v":1,"rules":…} envelope. The
// document is webui's (its list of rules, in the order they are tried),
// opaque here, so kv needs no import of proxy/errrules. One document,
// replaced whole, keeps the order and every edit atomic.
var bucketErrorRules = []byte("error_rules")

var errorRulesKey = []byte("rules")

// errorRulesValue is the rules document as stored, JSON with a "v" field.
type errorRulesValue struct {
	V   int             `json:"v"`
	Doc json.RawMessage `json:"rules"`
}

func (e *errorRulesValue) version() int { return e.V }

// SaveErrorRules replaces the stored error rules document; doc must be a
// JSON value.
func (db *DB) SaveErrorRules(doc []byte) error {
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		return putValue(tx.Bucket(bucketErrorRules), string(errorRulesKey),
			&errorRulesValue{V: valueVersion, Doc: doc}, "error rules")
	})
}

// LoadErrorRules returns the stored error rules document, nil when none
// was ever saved.
func (db *DB) LoadErrorRules() (doc []byte, err error) {
	err = db.bolt.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketErrorRules).Get(errorRulesKey)
		if raw == nil {
			return nil
		}
		var e errorRulesValue
		if err := decodeValue(raw, &e, "error rules"); err != nil {
			return err
		}
		doc = append([]byte(nil), e.Doc...)
		return nil
	})
	return doc, err
}
