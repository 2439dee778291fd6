package kv

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// fileMode is the mode of the database file. It holds OAuth refresh tokens
// and API keys, so only the owner may read it.
const fileMode os.FileMode = 0o600

// lockTimeout is how long Open waits for another process to release the
// file lock before giving up with ErrLocked.
const lockTimeout = time.Second

// Bucket names. Every bucket is created by Open, so the store methods can
// rely on tx.Bucket returning non-nil.
var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketTokens   = []byte("tokens")
	bucketState    = []byte("state")
	bucketLedger   = []byte("ledger")
	bucketRollups  = []byte("rollups")
	bucketKeys     = []byte("keys")
	bucketHealth   = []byte("sched_health")
	bucketBindings = []byte("sched_bindings")

	allBuckets = [][]byte{bucketMeta, bucketAccounts, bucketTokens, bucketState, bucketLedger,
		bucketRollups, bucketKeys, bucketIdentity, bucketHealth, bucketBindings, bucketErrorRules}
)

// Options configures Open.
type Options struct {
	// Logger receives open and migration messages; nil discards them.
	Logger *slog.Logger
	// MasterKey, MasterKeySize bytes, encrypts the credential fields of
	// accounts and tokens with AES-256-GCM. Nil stores them in plaintext,
	// and fails with ErrNoMasterKey on a database that has a key.
	MasterKey []byte
}

// DB is subgate's persistent store: accounts added at run time, rotated
// OAuth tokens, the scheduler's snapshot and the usage ledger, in one
// bbolt file. It is safe for concurrent use.
type DB struct {
	bolt *bbolt.DB
	path string
	log  *slog.Logger
	// sec seals credential fields; nil without a master key. It never
	// changes while the DB is open: RotateKey works on its own DB.
	sec *sealer
	// now is the clock for Created and Updated stamps; tests replace it.
	now func() time.Time
	// recBuf is the ledger records' encoding arena, used only inside
	// write transactions (see appendRecords).
	recBuf []byte
}

// Open opens the database at path, creating it with mode 0600 if needed and
// tightening the mode of an existing file to 0600. It fails with an error
// wrapping ErrLocked when another process holds the file, and with one
// wrapping ErrTooNew when a newer subgate wrote it. Older schemas are
// migrated in place. With opts.MasterKey, credentials still stored in
// plaintext are encrypted in the same transaction; a database that has a
// key fails with ErrNoMasterKey without one and ErrWrongMasterKey with
// another.
func Open(path string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sec, err := newSealer(opts.MasterKey)
	if err != nil {
		return nil, err
	}
	b, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, path: path, log: log, sec: sec, now: time.Now}
	if err := db.init(); err != nil {
		_ = b.Close()
		return nil, err
	}
	log.Info("kv opened", "path", path, "schema", SchemaVersion, "encrypted", sec != nil)
	return db, nil
}

// openBolt opens and locks the bbolt file at path, read-only with a shared
// lock or read-write with an exclusive one, waiting up to lockTimeout. The
// two locks exclude each other (flock), so a read-only open fails with
// ErrLocked while a server runs too. If the path was replaced while Open
// waited for the lock (compact or restore renamed a new file over it), the
// old file is let go and the new one opened, once.
func openBolt(path string, readOnly bool) (*bbolt.DB, error) {
	for attempt := 0; ; attempt++ {
		before, _ := os.Stat(path)
		b, err := bbolt.Open(path, fileMode, &bbolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w (%s)", ErrLocked, path)
		}
		if err != nil {
			return nil, fmt.Errorf("kv: open %s: %w", path, err)
		}
		after, err := os.Stat(path)
		if attempt > 0 || before == nil || (err == nil && os.SameFile(before, after)) {
			return b, nil
		}
		_ = b.Close()
	}
}

// init tightens the file mode, then creates the buckets and brings the
// schema up to date in one transaction.
func (db *DB) init() error {
	fi, err := os.Stat(db.path)
	if err != nil {
		return fmt.Errorf("kv: stat %s: %w", db.path, err)
	}
	if fi.Mode().Perm() != fileMode {
		if err := os.Chmod(db.path, fileMode); err != nil {
			return fmt.Errorf("kv: chmod %s: %w", db.path, err)
		}
		db.log.Info("kv tightened file mode", "path", db.path, "was", fi.Mode().Perm().String())
	}
	return db.bolt.Update(db.setup)
}

// setup checks the stored schema version before touching anything, so a
// database from a newer subgate is left exactly as it was.
func (db *DB) setup(tx *bbolt.Tx) error {
	have, err := schemaVersion(tx)
	if err != nil {
		return err
	}
	if have > SchemaVersion {
		return fmt.Errorf("%w: %s has schema version %d, this binary supports up to %d",
			ErrTooNew, db.path, have, SchemaVersion)
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("kv: create bucket %s: %w", name, err)
		}
	}
	if err := checkKey(tx, db.sec); err != nil {
		return fmt.Errorf("%w (%s)", err, db.path)
	}
	if err := migrate(tx, have, migrations, db.log); err != nil {
		return err
	}
	return db.sealPlaintext(tx)
}

// Close closes the database. Outstanding transactions finish first.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("kv: close %s: %w", db.path, err)
	}
	return nil
}

// Path returns the path of the database file.
func (db *DB) Path() string { return db.path }

// WriteTo writes a consistent copy of the whole database to w and returns
// the number of bytes written. It runs in one read transaction, so writers
// keep going while it copies; the copy is a valid database file that Open
// accepts.
func (db *DB) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("kv: backup %s: %w", db.path, err)
	}
	return n, nil
}

// Check verifies the file's page structure (no page reachable twice,
// freelist consistent, keys in order) and returns every problem found
// joined into one error, or nil.
func (db *DB) Check() error {
	var errs []error
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kv: check %s: %w", db.path, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("kv: check %s: %w", db.path, errors.Join(errs...))
	}
	return nil
}
