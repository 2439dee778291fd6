package kv

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// MasterKeySize is the length of a master key: AES-256.
const MasterKeySize = 32

// sealedPrefix starts every encrypted field, so a value says whether it is
// ciphertext and one file can hold both: a key configured on a plaintext
// database, or a value written before the sweep at Open.
const sealedPrefix = "enc:v1:"

// metaKeyCheck is the meta key holding keyCheckPlain sealed under the
// master key. Its presence marks the database as encrypted; opening it
// tells a wrong key from a right one before any credential is touched.
const metaKeyCheck = "master_key_check"

const keyCheckPlain = "subgate master key check"

// sealer encrypts and decrypts credential fields with AES-256-GCM. A nil
// *sealer is the no-key mode: it writes plaintext and fails on ciphertext.
type sealer struct{ aead cipher.AEAD }

// newSealer returns the sealer for key, or nil for a nil key.
func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		return nil, nil
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("kv: master key is %d bytes, want %d", len(key), MasterKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("kv: master key: %w", err)
	}
	// A fresh random nonce per Seal, prepended to the ciphertext: no
	// counter to persist, and far below GCM's 2^32-message bound.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("kv: master key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns plain encrypted and encoded as sealedPrefix +
// base64(nonce ‖ ciphertext ‖ tag). ad binds the value to where it is
// stored, so a ciphertext moved to another account or field fails to
// open. The nil sealer returns plain.
func (s *sealer) seal(plain, ad string) string {
	if s == nil {
		return plain
	}
	ct := s.aead.Seal(nil, nil, []byte(plain), []byte(ad))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(ct)
}

// open reverses seal. A value without sealedPrefix is plaintext and is
// returned as it is.
func (s *sealer) open(v, ad string) (string, error) {
	enc, ok := strings.CutPrefix(v, sealedPrefix)
	if !ok {
		return v, nil
	}
	if s == nil {
		return "", ErrNoMasterKey
	}
	ct, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("bad encoding: %w", err)
	}
	pt, err := s.aead.Open(nil, nil, ct, []byte(ad))
	if err != nil {
		return "", fmt.Errorf("decrypt: %w", err)
	}
	return string(pt), nil
}

// secretField is one credential field of a stored value.
type secretField struct {
	name string
	p    *string
}

func accountSecrets(a *Account) []secretField {
	return []secretField{{"api_key", &a.APIKey}, {"access_token", &a.AccessToken},
		{"refresh_token", &a.RefreshToken}, {"id_token", &a.IDToken}}
}

func tokenSecrets(t *Token) []secretField {
	return []secretField{{"access_token", &t.AccessToken}, {"refresh_token", &t.RefreshToken},
		{"id_token", &t.IDToken}}
}

// fieldAD is the associated data of a field: bucket, key and field name,
// NUL-separated because names may hold any other byte.
func fieldAD(bucket []byte, key, field string) string {
	return string(bucket) + "\x00" + key + "\x00" + field
}

// sealFields encrypts the non-empty fields in place and returns how many
// there were. Empty fields stay empty: they hold no secret.
func (s *sealer) sealFields(bucket []byte, key string, fs []secretField) int {
	n := 0
	for _, f := range fs {
		if *f.p == "" {
			continue
		}
		*f.p = s.seal(*f.p, fieldAD(bucket, key, f.name))
		n++
	}
	return n
}

// openFields decrypts the fields in place; the error names the field.
func (s *sealer) openFields(bucket []byte, key string, fs []secretField) error {
	for _, f := range fs {
		v, err := s.open(*f.p, fieldAD(bucket, key, f.name))
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		*f.p = v
	}
	return nil
}

// plainFields counts the non-empty fields not sealed yet.
func plainFields(fs []secretField) int {
	n := 0
	for _, f := range fs {
		if *f.p != "" && !strings.HasPrefix(*f.p, sealedPrefix) {
			n++
		}
	}
	return n
}

// checkKey compares the key of sec with the key check value in tx's meta
// bucket, and stores one when a key meets a database that has none. It
// returns ErrNoMasterKey or ErrWrongMasterKey unwrapped, for the caller
// to name the file.
func checkKey(tx *bbolt.Tx, sec *sealer) error {
	stored := tx.Bucket(bucketMeta).Get([]byte(metaKeyCheck))
	switch {
	case stored == nil && sec == nil:
		return nil
	case stored == nil:
		return putMeta(tx, metaKeyCheck, sec.seal(keyCheckPlain, metaKeyCheck))
	case sec == nil:
		return ErrNoMasterKey
	}
	got, err := sec.open(string(stored), metaKeyCheck)
	if err != nil || got != keyCheckPlain {
		return ErrWrongMasterKey
	}
	return nil
}

// sealPlaintext encrypts every credential still stored in plaintext, in
// tx. It runs at each Open with a key and finds work only the first time
// a key meets a database written without one.
func (db *DB) sealPlaintext(tx *bbolt.Tx) error {
	if db.sec == nil {
		return nil
	}
	n, err := rewriteSecrets(tx, db.sec, db.sec, true)
	if err != nil {
		return err
	}
	if n > 0 {
		db.log.Info("kv encrypted stored credentials", "values", n,
			"hint", "run subgate compact to drop the plaintext copies left in free pages")
	}
	return nil
}

// secretBuckets are the buckets whose values hold credentials, each with a
// constructor for an empty value and its credential fields.
var secretBuckets = []struct {
	name  []byte
	value func() (envelope, []secretField)
}{
	{bucketAccounts, func() (envelope, []secretField) {
		var e accountValue
		return &e, accountSecrets(&e.Account)
	}},
	{bucketTokens, func() (envelope, []secretField) {
		var e tokenValue
		return &e, tokenSecrets(&e.Token)
	}},
}

// rewriteSecrets opens every credential in the accounts and tokens
// buckets with from and seals it again with to, in tx, and returns how
// many values it rewrote. With plainOnly it touches only values that
// still hold plaintext and counts only those fields.
func rewriteSecrets(tx *bbolt.Tx, from, to *sealer, plainOnly bool) (int, error) {
	n := 0
	for _, sb := range secretBuckets {
		b := tx.Bucket(sb.name)
		var keys, vals [][]byte
		err := b.ForEach(func(k, v []byte) error {
			what := fmt.Sprintf("%s %q", sb.name, k)
			e, fs := sb.value()
			if err := decodeValue(v, e, what); err != nil {
				return err
			}
			plain := plainFields(fs)
			if plainOnly && plain == 0 {
				return nil
			}
			if err := from.openFields(sb.name, string(k), fs); err != nil {
				return fmt.Errorf("kv: %s: %w", what, err)
			}
			sealed := to.sealFields(sb.name, string(k), fs)
			if plainOnly {
				n += plain
			} else {
				n += sealed
			}
			data, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("kv: encode %s: %w", what, err)
			}
			// Put may not run inside ForEach; k aliases the tx, so copy it.
			keys = append(keys, append([]byte(nil), k...))
			vals = append(vals, data)
			return nil
		})
		if err != nil {
			return 0, err
		}
		for i, k := range keys {
			if err := b.Put(k, vals[i]); err != nil {
				return 0, fmt.Errorf("kv: put %s %q: %w", sb.name, k, err)
			}
		}
	}
	return n, nil
}

// RotateKey rewrites every stored credential of the database at path under
// newKey, or in plaintext when newKey is nil, in one transaction, and
// returns how many values it rewrote. opts.MasterKey is the current key
// (nil for a plaintext database). The key check value changes in the same
// transaction, so afterwards only newKey opens the database. Like Open it
// fails with ErrLocked while a server holds the file.
func RotateKey(path string, opts Options, newKey []byte) (int, error) {
	to, err := newSealer(newKey)
	if err != nil {
		return 0, err
	}
	db, err := Open(path, opts)
	if err != nil {
		return 0, err
	}
	var n int
	err = db.bolt.Update(func(tx *bbolt.Tx) error {
		n, err = rewriteSecrets(tx, db.sec, to, false)
		if err != nil {
			return err
		}
		if to == nil {
			if err := tx.Bucket(bucketMeta).Delete([]byte(metaKeyCheck)); err != nil {
				return fmt.Errorf("kv: delete meta %q: %w", metaKeyCheck, err)
			}
			return nil
		}
		return putMeta(tx, metaKeyCheck, to.seal(keyCheckPlain, metaKeyCheck))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("kv: rotate master key of %s: %w", path, err)
	}
	db.log.Info("kv rotated master key", "values", n, "encrypted", to != nil)
	return n, nil
}
