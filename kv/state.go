package kv

import (
	"subgate/sched"

	"go.etcd.io/bbolt"
)

// DB persists the scheduler's snapshot.
var _ sched.StateStore = (*DB)(nil)

// stateKey is the one key of the state bucket.
const stateKey = "sched"

// stateValue is a sched.Snapshot as stored, JSON with a "v" field.
type stateValue struct {
	V int `json:"v"`
	sched.Snapshot
}

func (e *stateValue) version() int { return e.V }

// SaveState replaces the stored scheduler snapshot.
func (db *DB) SaveState(s sched.Snapshot) error {
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		return putValue(tx.Bucket(bucketState), stateKey, &stateValue{V: valueVersion, Snapshot: s}, "scheduler state")
	})
}

// LoadState returns the stored scheduler snapshot, or an empty one and no
// error when none was ever saved (a first start).
func (db *DB) LoadState() (sched.Snapshot, error) {
	var s sched.Snapshot
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketState).Get([]byte(stateKey))
		if raw == nil {
			return nil
		}
		var e stateValue
		if err := decodeValue(raw, &e, "scheduler state"); err != nil {
			return err
		}
		s = e.Snapshot
		return nil
	})
	return s, err
}
