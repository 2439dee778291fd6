package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"subgate/ledger"

	"go.etcd.io/bbolt"
)

// DB is the ledger's record store.
var _ ledger.Store = (*DB)(nil)

// ledgerKeyLen is the length of a ledger key: 8 bytes of big-endian
// unix-nano time, then 8 bytes of big-endian bucket sequence.
const ledgerKeyLen = 16

// scanChunk is how many records Scan reads per read transaction, so a scan
// over months of records never holds one long read transaction (which
// would keep bbolt from reusing freed pages and grow the file).
const scanChunk = 1024

// ledgerFillPercent is how full Append packs ledger pages before a split.
// Keys arrive in nearly increasing order, so bbolt's default of one half
// would leave every page half empty and double the file; a key that does
// land out of order splits at most one full page.
const ledgerFillPercent = 1.0

// Append writes a batch of records and merges the rollup deltas into the
// stored rollups, in one transaction: a commit never leaves the rollups
// disagreeing with the records. Records with the same Time stay distinct:
// the key's second half is a sequence number.
func (db *DB) Append(recs []ledger.Record, rollups []ledger.Rollup) error {
	if len(recs) == 0 && len(rollups) == 0 {
		return nil
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		if err := db.appendRecords(tx, recs); err != nil {
			return err
		}
		return mergeRollups(tx, rollups)
	})
}

// appendRecords puts recs into the ledger bucket. It runs inside a write
// transaction, and bbolt runs one at a time: that is what lets every
// commit reuse db.recBuf, whose bytes Put references until the commit.
func (db *DB) appendRecords(tx *bbolt.Tx, recs []ledger.Record) error {
	b := tx.Bucket(bucketLedger)
	b.FillPercent = ledgerFillPercent
	if need := 160 * len(recs); cap(db.recBuf) < need { // about 130 B a record
		db.recBuf = make([]byte, 0, need)
	}
	buf := db.recBuf[:0]
	var key [ledgerKeyLen]byte // Put copies keys, not values
	for i := range recs {
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("kv: ledger sequence: %w", err)
		}
		// Each record gets its own bytes of the arena; one that outgrows
		// it moves to a fresh array and leaves the earlier ones intact.
		start := len(buf)
		buf = appendRecord(buf, &recs[i])
		putLedgerKey(key[:], recs[i].Time, seq)
		if err := b.Put(key[:], buf[start:len(buf):len(buf)]); err != nil {
			return fmt.Errorf("kv: put ledger record: %w", err)
		}
	}
	if cap(buf) <= maxRecBuf {
		db.recBuf = buf[:0]
	}
	return nil
}

// maxRecBuf bounds the arena kept between commits (a burst's batch of
// BatchSize records fits well within it).
const maxRecBuf = 1 << 20

// Scan calls fn for the records with from <= Time < to, in time order
// (records with the same Time in append order), until fn returns false.
// fn runs outside any transaction, so it may take its time or call back
// into the DB; records appended during a scan may or may not be seen.
func (db *DB) Scan(from, to time.Time, fn func(ledger.Record) bool) error {
	return scanChunks(db, bucketLedger, ledgerKey(from, 0), ledgerKey(to, 0), scanChunk, decodeRecord, fn)
}

// scanChunks calls fn for the values of bucket with start <= key < end,
// decoded, in key order, reading n per read transaction and calling fn
// outside it: no read transaction stays open while fn works, and fn may
// call back into the DB. One buffer serves every chunk (fn gets copies).
func scanChunks[T any](db *DB, bucket, start, end []byte, n int, decode func(k, v []byte, in *interner) (T, error), fn func(T) bool) error {
	var in interner
	buf := make([]T, 0, min(n, 256))
	for bytes.Compare(start, end) < 0 {
		var next []byte
		buf = buf[:0]
		err := db.bolt.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucket).Cursor()
			for k, v := c.Seek(start); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
				if len(buf) == n {
					next = bytes.Clone(k)
					return nil
				}
				r, err := decode(k, v, &in)
				if err != nil {
					return err
				}
				buf = append(buf, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range buf {
			if !fn(r) {
				return nil
			}
		}
		if next == nil {
			return nil
		}
		start = next
	}
	return nil
}

// Last returns up to n of the newest records, newest first.
func (db *DB) Last(n int) ([]ledger.Record, error) {
	if n <= 0 {
		return nil, nil
	}
	var recs []ledger.Record
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLedger).Cursor()
		for k, v := c.Last(); k != nil && len(recs) < n; k, v = c.Prev() {
			r, err := decodeRecord(k, v, nil)
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	return recs, err
}

// ledgerKey builds the key of a record at t with sequence seq. Times
// outside what unix-nano can hold in an int64 (before 1970 or after 2262)
// are clamped to its ends, so a zero time.Time sorts first instead of
// wrapping around.
func ledgerKey(t time.Time, seq uint64) []byte {
	k := make([]byte, ledgerKeyLen)
	putLedgerKey(k, t, seq)
	return k
}

func putLedgerKey(k []byte, t time.Time, seq uint64) {
	binary.BigEndian.PutUint64(k[:8], unixNano(t))
	binary.BigEndian.PutUint64(k[8:], seq)
}

// maxUnix is the last second whose unix-nano value fits in an int64.
const maxUnix = math.MaxInt64 / int64(time.Second)

func unixNano(t time.Time) uint64 {
	switch sec := t.Unix(); {
	case sec < 0:
		return 0
	case sec >= maxUnix:
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}

// DeleteBefore deletes up to max of the oldest records with Time < t in
// one transaction and returns how many it deleted. Keys are time-ordered,
// so these are the first keys of the bucket. Rollups are not touched.
func (db *DB) DeleteBefore(t time.Time, max int) (int, error) {
	if max <= 0 {
		return 0, nil
	}
	end := ledgerKey(t, 0)
	n := 0
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		// Collect first: deleting under a cursor that then moves on can
		// skip keys in bbolt.
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < max && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("kv: delete ledger record: %w", err)
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
