package kv

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// tokenValue is a Token as stored: keyed by account name in the tokens
// bucket, JSON with a "v" field.
type tokenValue struct {
	V int `json:"v"`
	Token
}

func (e *tokenValue) version() int { return e.V }

// SaveToken stores the rotated credential of the account called name,
// which may be a config account that has no entry in the accounts bucket.
// A zero t.Updated is set to now. If the accounts bucket does hold an
// account of that name, its AccessToken, RefreshToken, IDToken and
// ExpiresAt are updated in the same transaction, so the two never
// disagree.
func (db *DB) SaveToken(name string, t Token) error {
	if name == "" {
		return errors.New("kv: token without an account name")
	}
	if t.Updated.IsZero() {
		t.Updated = db.now()
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		what := fmt.Sprintf("token %q", name)
		sealed := t // t keeps its plaintext for the account below
		db.sec.sealFields(bucketTokens, name, tokenSecrets(&sealed))
		if err := putValue(tx.Bucket(bucketTokens), name, &tokenValue{V: valueVersion, Token: sealed}, what); err != nil {
			return err
		}
		a, err := db.getAccount(tx, name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		a.AccessToken = t.AccessToken
		a.RefreshToken = t.RefreshToken
		a.IDToken = t.IDToken
		a.ExpiresAt = Time{Time: t.ExpiresAt}
		return db.putAccount(tx, a)
	})
}

// LoadToken returns the credential last saved for the account called name,
// or an error wrapping ErrNotFound.
func (db *DB) LoadToken(name string) (Token, error) {
	var t Token
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		raw := tx.Bucket(bucketTokens).Get([]byte(name))
		if raw == nil {
			return fmt.Errorf("token %q: %w", name, ErrNotFound)
		}
		what := fmt.Sprintf("token %q", name)
		var e tokenValue
		if err := decodeValue(raw, &e, what); err != nil {
			return err
		}
		if err := db.sec.openFields(bucketTokens, name, tokenSecrets(&e.Token)); err != nil {
			return fmt.Errorf("kv: %s: %w", what, err)
		}
		t = e.Token
		return nil
	})
	return t, err
}
