package kv

import (
	"encoding/binary"
	"fmt"

	"subgate/sched"

	"go.etcd.io/bbolt"
)

// DB persists the scheduler's state.
var _ sched.StateStore = (*DB)(nil)

// legacyStateKey is the state bucket's one key as older subgates wrote
// it: the scheduler's whole snapshot in one value. LoadState moves it to
// the per-record buckets once.
const legacyStateKey = "sched"

// stateValue is a whole sched.Snapshot, as the legacy key holds it.
type stateValue struct {
	V int `json:"v"`
	sched.Snapshot
}

func (e *stateValue) version() int { return e.V }

// healthValue is one account's sched.Health as stored.
type healthValue struct {
	V int `json:"v"`
	sched.Health
}

func (e *healthValue) version() int { return e.V }

// bindingValue is one sched.Binding as stored.
type bindingValue struct {
	V int `json:"v"`
	sched.Binding
}

func (e *bindingValue) version() int { return e.V }

// bindingKey is a binding's key in the bindings bucket: the group's length
// as a uvarint, the group, then the session, so no group or session can
// make two bindings collide.
func bindingKey(group, session string) string {
	b := binary.AppendUvarint(make([]byte, 0, 2+len(group)+len(session)), uint64(len(group)))
	return string(append(append(b, group...), session...))
}

// SaveChanges applies the scheduler's changes in one transaction: the
// records named are written or deleted, the others left alone.
func (db *DB) SaveChanges(c sched.Changes) error {
	return db.bolt.Update(func(tx *bbolt.Tx) error { return saveChanges(tx, c) })
}

func saveChanges(tx *bbolt.Tx, c sched.Changes) error {
	hb, bb := tx.Bucket(bucketHealth), tx.Bucket(bucketBindings)
	for name, h := range c.Health {
		if err := putValue(hb, name, &healthValue{V: valueVersion, Health: h}, "scheduler health"); err != nil {
			return err
		}
	}
	for _, name := range c.Forget {
		if err := hb.Delete([]byte(name)); err != nil {
			return fmt.Errorf("kv: delete scheduler health: %w", err)
		}
	}
	for _, b := range c.Bindings {
		if err := putValue(bb, bindingKey(b.Group, b.Session), &bindingValue{V: valueVersion, Binding: b}, "binding"); err != nil {
			return err
		}
	}
	for _, r := range c.Unbound {
		if err := bb.Delete([]byte(bindingKey(r.Group, r.Session))); err != nil {
			return fmt.Errorf("kv: delete binding: %w", err)
		}
	}
	return nil
}

// LoadState returns the stored scheduler state, or an empty one and no
// error when none was ever saved (a first start). A snapshot stored whole
// by an older subgate is moved to one record per account and binding
// first, in one transaction.
func (db *DB) LoadState() (sched.Snapshot, error) {
	var (
		s      sched.Snapshot
		legacy bool
	)
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		if legacy = tx.Bucket(bucketState).Get([]byte(legacyStateKey)) != nil; legacy {
			return nil
		}
		var err error
		s, err = readState(tx)
		return err
	})
	if err != nil || !legacy {
		return s, err
	}
	err = db.bolt.Update(func(tx *bbolt.Tx) error {
		if err := migrateState(tx); err != nil {
			return err
		}
		var err error
		s, err = readState(tx)
		return err
	})
	return s, err
}

// migrateState writes the legacy whole snapshot as records and deletes it.
func migrateState(tx *bbolt.Tx) error {
	st := tx.Bucket(bucketState)
	raw := st.Get([]byte(legacyStateKey))
	if raw == nil {
		return nil
	}
	var e stateValue
	if err := decodeValue(raw, &e, "scheduler state"); err != nil {
		return err
	}
	if err := saveChanges(tx, sched.Changes{Health: e.Health, Bindings: e.Bindings}); err != nil {
		return err
	}
	if err := st.Delete([]byte(legacyStateKey)); err != nil {
		return fmt.Errorf("kv: delete old scheduler state: %w", err)
	}
	return nil
}

// readState reads every health and binding record.
func readState(tx *bbolt.Tx) (sched.Snapshot, error) {
	var s sched.Snapshot
	err := tx.Bucket(bucketHealth).ForEach(func(k, v []byte) error {
		var e healthValue
		if err := decodeValue(v, &e, fmt.Sprintf("health of %q", k)); err != nil {
			return err
		}
		if s.Health == nil {
			s.Health = make(map[string]sched.Health)
		}
		s.Health[string(k)] = e.Health
		return nil
	})
	if err != nil {
		return s, err
	}
	err = tx.Bucket(bucketBindings).ForEach(func(_, v []byte) error {
		var e bindingValue
		if err := decodeValue(v, &e, "binding"); err != nil {
			return err
		}
		s.Bindings = append(s.Bindings, e.Binding)
		return nil
	})
	return s, err
}
