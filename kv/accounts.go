package kv

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// accountValue is an Account as stored: keyed by name in the accounts
// bucket, JSON with a "v" field beside the account's own fields.
type accountValue struct {
	V int `json:"v"`
	Account
}

func (e *accountValue) version() int { return e.V }

// PutAccount inserts or replaces the account with a.Name. A zero Created
// keeps the stored account's stamp, or is set to now for a new account.
func (db *DB) PutAccount(a Account) error {
	if a.Name == "" {
		return errors.New("kv: account without a name")
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		if a.Created.IsZero() {
			old, err := db.getAccount(tx, a.Name)
			switch {
			case err == nil:
				a.Created = old.Created
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if a.Created.IsZero() {
			a.Created = db.now()
		}
		return db.putAccount(tx, a)
	})
}

// GetAccount returns the account called name, or an error wrapping
// ErrNotFound.
func (db *DB) GetAccount(name string) (Account, error) {
	var a Account
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		a, err = db.getAccount(tx, name)
		return err
	})
	return a, err
}

// DeleteAccount removes the account called name and its saved token, or
// returns an error wrapping ErrNotFound. The token goes too so that an
// account added again later under the same name does not pick up the old
// account's credentials.
func (db *DB) DeleteAccount(name string) error {
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("account %q: %w", name, ErrNotFound)
		}
		if err := b.Delete([]byte(name)); err != nil {
			return fmt.Errorf("kv: delete account %q: %w", name, err)
		}
		if err := tx.Bucket(bucketTokens).Delete([]byte(name)); err != nil {
			return fmt.Errorf("kv: delete token %q: %w", name, err)
		}
		return nil
	})
}

// Accounts returns every stored account, sorted by name.
func (db *DB) Accounts() ([]Account, error) {
	var list []Account
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		// Keys are names, and bbolt iterates in byte order, which is Go's
		// string order: the list comes out sorted.
		return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
			a, err := db.decodeAccount(string(k), v)
			if err != nil {
				return err
			}
			list = append(list, a)
			return nil
		})
	})
	return list, err
}

func (db *DB) getAccount(tx *bbolt.Tx, name string) (Account, error) {
	raw := tx.Bucket(bucketAccounts).Get([]byte(name))
	if raw == nil {
		return Account{}, fmt.Errorf("account %q: %w", name, ErrNotFound)
	}
	return db.decodeAccount(name, raw)
}

// decodeAccount decodes a stored account and decrypts its credentials.
func (db *DB) decodeAccount(name string, raw []byte) (Account, error) {
	what := fmt.Sprintf("account %q", name)
	var e accountValue
	if err := decodeValue(raw, &e, what); err != nil {
		return Account{}, err
	}
	if err := db.sec.openFields(bucketAccounts, name, accountSecrets(&e.Account)); err != nil {
		return Account{}, fmt.Errorf("kv: %s: %w", what, err)
	}
	return e.Account, nil
}

// putAccount encrypts a's credentials, when there is a master key, and
// stores it. a is a copy, so the caller's value keeps its plaintext.
func (db *DB) putAccount(tx *bbolt.Tx, a Account) error {
	what := fmt.Sprintf("account %q", a.Name)
	db.sec.sealFields(bucketAccounts, a.Name, accountSecrets(&a))
	return putValue(tx.Bucket(bucketAccounts), a.Name, &accountValue{V: valueVersion, Account: a}, what)
}
