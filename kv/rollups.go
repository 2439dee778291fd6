package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"subgate/ledger"

	"go.etcd.io/bbolt"
)

// rollupFormat is the first byte of a rollup value: ten varints, the
// fields of ledger.Counts in declaration order.
const rollupFormat byte = 1

// rollupChunk is how many rollups Rollups reads per read transaction.
const rollupChunk = 4096

// rollupFillPercent packs rollup pages fuller than bbolt's default:
// hours only grow, so once an hour is over its pages are never split
// again and would stay half empty.
const rollupFillPercent = 0.9

// mergeRollups adds each delta to the stored rollup of its hour, key,
// account and model: read, add, write, inside the caller's transaction.
func mergeRollups(tx *bbolt.Tx, rollups []ledger.Rollup) error {
	b := tx.Bucket(bucketRollups)
	b.FillPercent = rollupFillPercent
	for i := range rollups {
		r := &rollups[i]
		key := rollupKey(r)
		sum := r.Counts
		if old := b.Get(key); old != nil {
			have, err := decodeCounts(old)
			if err != nil {
				return fmt.Errorf("kv: rollup %x: %w", key, err)
			}
			sum.Add(have)
		}
		if err := b.Put(key, encodeCounts(&sum)); err != nil {
			return fmt.Errorf("kv: put rollup: %w", err)
		}
	}
	return nil
}

// Rollups calls fn for the stored rollups with from <= Hour < to, in hour
// order (within an hour by key, account, model), until fn returns false.
// Like Scan it reads in chunks and calls fn outside any transaction.
func (db *DB) Rollups(from, to time.Time, fn func(ledger.Rollup) bool) error {
	return scanChunks(db, bucketRollups, rollupHourKey(ceilUnix(from)), rollupHourKey(ceilUnix(to)), rollupChunk, decodeRollup, fn)
}

// rollupKey is the hour's 8-byte big-endian unix seconds, then key, NUL,
// account, NUL, model. Names never hold NUL (ledger.Aggregate replaces
// it; so does this, for callers that did not aggregate).
func rollupKey(r *ledger.Rollup) []byte {
	k := rollupHourKey(max(r.Hour.Unix(), 0))
	k = append(k, noNUL(r.Key)...)
	k = append(k, 0)
	k = append(k, noNUL(r.Account)...)
	k = append(k, 0)
	return append(k, noNUL(r.Model)...)
}

func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func rollupHourKey(sec int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 64), uint64(sec))
}

// ceilUnix returns t in unix seconds rounded up, clamped at 0: an hour
// h is >= t exactly when h >= ceilUnix(t).
func ceilUnix(t time.Time) int64 {
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return max(sec, 0)
}

func decodeRollup(k, v []byte, in *interner) (ledger.Rollup, error) {
	var r ledger.Rollup
	if len(k) < 10 {
		return r, fmt.Errorf("kv: rollup key %x: too short", k)
	}
	rest := k[8:]
	i := bytes.IndexByte(rest, 0)
	j := -1
	if i >= 0 {
		j = bytes.IndexByte(rest[i+1:], 0)
	}
	if j < 0 {
		return r, fmt.Errorf("kv: rollup key %x: want 3 names", k)
	}
	j += i + 1
	c, err := decodeCounts(v)
	if err != nil {
		return r, fmt.Errorf("kv: rollup %x: %w", k, err)
	}
	r.Hour = time.Unix(int64(binary.BigEndian.Uint64(k[:8])), 0).UTC()
	r.Key, r.Account, r.Model = in.str(rest[:i]), in.str(rest[i+1:j]), in.str(rest[j+1:])
	r.Counts = c
	return r, nil
}

func encodeCounts(c *ledger.Counts) []byte {
	b := make([]byte, 1, 1+10*4)
	b[0] = rollupFormat
	for _, n := range [...]int64{c.Requests, c.Errors, c.Refusals, c.Intercepted,
		c.InputTokens, c.OutputTokens, c.CacheCreationTokens, c.CacheReadTokens,
		c.CostMicros, c.ListMicros} {
		b = binary.AppendVarint(b, n)
	}
	return b
}

func decodeCounts(v []byte) (ledger.Counts, error) {
	var c ledger.Counts
	if len(v) == 0 || v[0] != rollupFormat {
		return c, errors.New("unknown rollup format")
	}
	d := decoder{buf: v[1:]}
	for _, p := range [...]*int64{&c.Requests, &c.Errors, &c.Refusals, &c.Intercepted,
		&c.InputTokens, &c.OutputTokens, &c.CacheCreationTokens, &c.CacheReadTokens,
		&c.CostMicros, &c.ListMicros} {
		*p = d.varint()
	}
	return c, d.err
}
