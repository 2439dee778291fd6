package kv

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"subgate/ledger"
)

// Ledger value formats: the first byte of a value names its encoding.
// New records are written as recordFormatBinary; JSON values written by
// schema version 1 are still read.
const (
	recordFormatJSON   byte = 1 // compact JSON ledger.Record
	recordFormatBinary byte = 2 // see appendRecord
)

// Flag bits of a binary record.
const (
	flagStream byte = 1 << iota
	flagIntercepted
	flagRefused
	flagMultiplier // 8 bytes of float64 follow the varints
	flagEstimated
)

// encodeRecord and decodeRecord are the only places that know the ledger
// value formats.
func encodeRecord(r *ledger.Record) []byte {
	return appendRecord(make([]byte, 0, 128), r)
}

// appendRecord appends the binary encoding of r: the format byte, a flags
// byte, the strings Key, Account, Platform, Model, UpstreamModel,
// RequestID and Error (each a uvarint length and the bytes), then the
// varints InputTokens, OutputTokens, CacheCreationTokens,
// CacheCreation5m, CacheCreation1h, CacheReadTokens, CostMicros,
// ListMicros, Status, Duration and TTFT, then, when flagMultiplier is
// set, Multiplier as 8 little-endian bytes of its IEEE 754 bits. Time is
// not stored: it is the first half of the key. A change to this layout
// is a new format byte.
func appendRecord(b []byte, r *ledger.Record) []byte {
	var flags byte
	if r.Stream {
		flags |= flagStream
	}
	if r.Intercepted {
		flags |= flagIntercepted
	}
	if r.Refused {
		flags |= flagRefused
	}
	if r.Multiplier != 0 {
		flags |= flagMultiplier
	}
	if r.Estimated {
		flags |= flagEstimated
	}
	b = append(b, recordFormatBinary, flags)
	for _, s := range [...]string{r.Key, r.Account, r.Platform, r.Model, r.UpstreamModel, r.RequestID, r.Error} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, n := range [...]int64{r.InputTokens, r.OutputTokens, r.CacheCreationTokens,
		r.CacheCreation5m, r.CacheCreation1h, r.CacheReadTokens, r.CostMicros, r.ListMicros,
		int64(r.Status), int64(r.Duration), int64(r.TTFT)} {
		b = binary.AppendVarint(b, n)
	}
	if flags&flagMultiplier != 0 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Multiplier))
	}
	return b
}

// decodeRecord decodes the value v stored under key k. The result shares
// no memory with v, which belongs to the transaction. in, when not nil,
// shares the strings that repeat from record to record.
func decodeRecord(k, v []byte, in *interner) (ledger.Record, error) {
	var r ledger.Record
	if len(v) == 0 {
		return r, fmt.Errorf("kv: ledger record %x: empty value", k)
	}
	switch v[0] {
	case recordFormatJSON:
		if err := json.Unmarshal(v[1:], &r); err != nil {
			return r, fmt.Errorf("kv: decode ledger record %x: %w", k, err)
		}
		return r, nil
	case recordFormatBinary:
		if err := decodeBinary(&r, v[1:], in); err != nil {
			return r, fmt.Errorf("kv: decode ledger record %x: %w", k, err)
		}
		r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
		return r, nil
	}
	return r, fmt.Errorf("kv: ledger record %x: unknown format %d", k, v[0])
}

var errTruncated = errors.New("truncated value")

func decodeBinary(r *ledger.Record, v []byte, in *interner) error {
	if len(v) == 0 {
		return errTruncated
	}
	flags := v[0]
	d := decoder{buf: v[1:], in: in}
	r.Stream = flags&flagStream != 0
	r.Intercepted = flags&flagIntercepted != 0
	r.Refused = flags&flagRefused != 0
	r.Estimated = flags&flagEstimated != 0
	r.Key = d.str(true)
	r.Account = d.str(true)
	r.Platform = d.str(true)
	r.Model = d.str(true)
	r.UpstreamModel = d.str(true)
	r.RequestID = d.str(false)
	r.Error = d.str(false)
	r.InputTokens = d.varint()
	r.OutputTokens = d.varint()
	r.CacheCreationTokens = d.varint()
	r.CacheCreation5m = d.varint()
	r.CacheCreation1h = d.varint()
	r.CacheReadTokens = d.varint()
	r.CostMicros = d.varint()
	r.ListMicros = d.varint()
	r.Status = int(d.varint())
	r.Duration = time.Duration(d.varint())
	r.TTFT = time.Duration(d.varint())
	if flags&flagMultiplier != 0 {
		if d.err == nil && len(d.buf) < 8 {
			d.err = errTruncated
		}
		if d.err == nil {
			r.Multiplier = math.Float64frombits(binary.LittleEndian.Uint64(d.buf))
			d.buf = d.buf[8:]
		}
	}
	return d.err
}

// decoder reads varints and strings, remembering the first error.
type decoder struct {
	buf []byte
	in  *interner
	err error
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	n, size := binary.Varint(d.buf)
	if size <= 0 {
		d.err = errTruncated
		return 0
	}
	d.buf = d.buf[size:]
	return n
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, size := binary.Uvarint(d.buf)
	if size <= 0 {
		d.err = errTruncated
		return 0
	}
	d.buf = d.buf[size:]
	return n
}

// str reads a string; shared strings go through the interner.
func (d *decoder) str(shared bool) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.buf)) {
		d.err = errTruncated
		return ""
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	if shared {
		return d.in.str(b)
	}
	return string(b)
}

// maxInterned bounds an interner: model names come from clients.
const maxInterned = 4096

// interner shares the strings of names that repeat across the records or
// rollups of one read, so a scan allocates each name once. A nil
// interner copies every string.
type interner map[string]string

func (in *interner) str(b []byte) string {
	if in == nil {
		return string(b)
	}
	if s, ok := (*in)[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if *in == nil {
		*in = make(interner)
	}
	if len(*in) < maxInterned {
		(*in)[s] = s
	}
	return s
}
