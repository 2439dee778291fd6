package kv

import (
	"fmt"

	"subgate/ledger"

	"go.etcd.io/bbolt"
)

// migrateRollups upgrades schema 1 to 2: it creates the rollups and keys
// buckets and backfills rollups from the ledger records already stored,
// so budgets and dashboards, which read rollups only, see the history.
// Records keep their JSON encoding; new ones are written in the binary
// format, and both are read.
func migrateRollups(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketRollups, bucketKeys} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	const chunk = 4096
	var in interner
	batch := make([]ledger.Record, 0, chunk)
	flush := func() error {
		err := mergeRollups(tx, ledger.Aggregate(batch))
		batch = batch[:0]
		return err
	}
	c := tx.Bucket(bucketLedger).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeRecord(k, v, &in)
		if err != nil {
			return err
		}
		batch = append(batch, r)
		if len(batch) == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
