package kv

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// compactTxSize bounds each transaction of Compact's copy, so a large
// ledger does not have to fit one transaction's dirty pages in memory.
const compactTxSize = 64 << 20

// Info describes a database file.
type Info struct {
	Schema    int   // schema version stored in the file
	Encrypted bool  // credentials are encrypted under a master key
	Accounts  int   // stored accounts
	Records   int   // ledger records
	Size      int64 // bytes of data (the copy Snapshot and Restore write)
}

// Snapshot writes a consistent copy of the database file at path to w,
// without a master key: credentials stay as stored. It opens the file
// read-only, which takes a shared lock. A running server holds an
// exclusive lock and the two exclude each other, so while one runs
// Snapshot fails with ErrLocked after lockTimeout: back up through the
// server's own WriteTo then.
func Snapshot(path string, w io.Writer) (Info, error) {
	b, err := openBolt(path, true)
	if err != nil {
		return Info{}, err
	}
	defer b.Close()
	var info Info
	err = b.View(func(tx *bbolt.Tx) error {
		if info, err = inspect(tx); err != nil {
			return err
		}
		info.Size, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return Info{}, fmt.Errorf("kv: snapshot %s: %w", path, err)
	}
	return info, nil
}

// Inspect opens the database file at path read-only and checks that a
// server could open it with key: a subgate database not newer than this
// binary (ErrTooNew), with a consistent page structure, and, if its
// credentials are encrypted, with key as its master key (ErrNoMasterKey,
// ErrWrongMasterKey). An older schema passes; Open migrates it.
func Inspect(path string, key []byte) (Info, error) {
	var info Info
	err := inspectFile(path, key, func(tx *bbolt.Tx, i Info) error {
		info = i
		return nil
	})
	return info, err
}

// inspectFile runs Inspect's checks on the file at path and then calls fn
// in the same read transaction.
func inspectFile(path string, key []byte, fn func(*bbolt.Tx, Info) error) error {
	sec, err := newSealer(key)
	if err != nil {
		return err
	}
	b, err := openBolt(path, true)
	if err != nil {
		return err
	}
	defer b.Close()
	err = b.View(func(tx *bbolt.Tx) error {
		info, err := inspect(tx)
		if err != nil {
			return err
		}
		if err := checkTx(tx); err != nil {
			return err
		}
		if info.Encrypted {
			if err := checkKey(tx, sec); err != nil {
				return err
			}
		}
		info.Size = tx.Size()
		return fn(tx, info)
	})
	if err != nil {
		return fmt.Errorf("kv: %s: %w", path, err)
	}
	return nil
}

// inspect reads a file's schema version and counts, refusing a file that
// is not a subgate database or is newer than this binary.
func inspect(tx *bbolt.Tx) (Info, error) {
	have, err := schemaVersion(tx)
	if err != nil {
		return Info{}, err
	}
	if have == 0 {
		return Info{}, errors.New("not a subgate database: no schema version")
	}
	if have > SchemaVersion {
		return Info{}, fmt.Errorf("%w: schema version %d, this binary supports up to %d", ErrTooNew, have, SchemaVersion)
	}
	info := Info{Schema: have, Encrypted: tx.Bucket(bucketMeta).Get([]byte(metaKeyCheck)) != nil}
	if b := tx.Bucket(bucketAccounts); b != nil {
		info.Accounts = b.Stats().KeyN
	}
	if b := tx.Bucket(bucketLedger); b != nil {
		info.Records = b.Stats().KeyN
	}
	return info, nil
}

// checkTx runs bbolt's consistency check in tx.
func checkTx(tx *bbolt.Tx) error {
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Restored reports what Restore did.
type Restored struct {
	Info
	// Backup is where the replaced database was kept, "" if path did not
	// exist.
	Backup string
}

// Restore replaces the database at path with a copy of the one at src,
// after Inspect's checks of src with key. It refuses with ErrLocked while
// a server holds path, and holds path's lock itself until the new file is
// in place. The old file stays as path.bak-<UTC time>; the new one is
// written next to path with mode 0600, synced, and renamed over path, so
// path is at every moment either the old database or the complete new one.
func Restore(path, src string, key []byte) (Restored, error) {
	if a, b := stat(path), stat(src); a != nil && b != nil && os.SameFile(a, b) {
		return Restored{}, fmt.Errorf("kv: restore: %s is the database itself", src)
	}
	var r Restored
	if stat(path) != nil {
		old, err := openBolt(path, false)
		switch {
		case errors.Is(err, ErrLocked):
			return Restored{}, err
		case err == nil:
			defer old.Close()
		}
		// Any other error: the old file does not open, often the reason
		// to restore. Nobody held its lock a moment ago; go on without it.
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".restore-*")
	if err != nil {
		return Restored{}, fmt.Errorf("kv: restore: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	err = inspectFile(src, key, func(tx *bbolt.Tx, info Info) error {
		r.Info = info
		_, err := tx.WriteTo(tmp)
		return err
	})
	if err != nil {
		tmp.Close()
		return Restored{}, err // names src
	}
	err = tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Restored{}, fmt.Errorf("kv: restore: %w", err)
	}
	if stat(path) != nil {
		if r.Backup, err = keepCopy(path, time.Now()); err != nil {
			return Restored{}, fmt.Errorf("kv: restore: keep old database: %w", err)
		}
	}
	if err := replaceFile(tmp.Name(), path); err != nil {
		return Restored{}, fmt.Errorf("kv: restore: %w", err)
	}
	return r, nil
}

// Compact rewrites the database at path into a fresh file without free
// pages, checks the copy against the original, and renames it over path.
// It returns the file's size on disk before and after. It refuses with ErrLocked
// while a server holds path, and holds the lock itself until the rename.
func Compact(path string) (before, after int64, err error) {
	src, err := openBolt(path, false)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	err = src.View(func(tx *bbolt.Tx) error {
		_, err := inspect(tx)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("kv: compact %s: %w", path, err)
	}
	if fi := stat(path); fi != nil {
		before = fi.Size()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".compact-*")
	if err != nil {
		return 0, 0, fmt.Errorf("kv: compact: %w", err)
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := compactInto(tmp.Name(), src); err != nil {
		return 0, 0, fmt.Errorf("kv: compact %s: %w", path, err)
	}
	if fi := stat(tmp.Name()); fi != nil {
		after = fi.Size()
	}
	if err := replaceFile(tmp.Name(), path); err != nil {
		return 0, 0, fmt.Errorf("kv: compact: %w", err)
	}
	return before, after, nil
}

// compactInto copies src into the empty bbolt file at dst and verifies
// the copy.
func compactInto(dst string, src *bbolt.DB) error {
	d, err := bbolt.Open(dst, fileMode, nil)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := bbolt.Compact(d, src, compactTxSize); err != nil {
		return err
	}
	if err := sameContents(src, d); err != nil {
		return fmt.Errorf("verify copy: %w", err)
	}
	if err := d.View(checkTx); err != nil {
		return fmt.Errorf("verify copy: %w", err)
	}
	return d.Close()
}

// sameContents compares the top-level buckets of a and b by key count and
// sequence.
func sameContents(a, b *bbolt.DB) error {
	return a.View(func(ta *bbolt.Tx) error {
		return b.View(func(tb *bbolt.Tx) error {
			return ta.ForEach(func(name []byte, ba *bbolt.Bucket) error {
				bb := tb.Bucket(name)
				if bb == nil {
					return fmt.Errorf("bucket %s missing", name)
				}
				if x, y := ba.Stats().KeyN, bb.Stats().KeyN; x != y {
					return fmt.Errorf("bucket %s has %d keys, copy has %d", name, x, y)
				}
				if x, y := ba.Sequence(), bb.Sequence(); x != y {
					return fmt.Errorf("bucket %s sequence %d, copy has %d", name, x, y)
				}
				return nil
			})
		})
	})
}

// keepCopy makes the file at path available as path.bak-<UTC time>,
// with a counter after it if that name is taken, and returns the name. It
// hard-links when the file system allows, else copies.
func keepCopy(path string, now time.Time) (string, error) {
	base := path + ".bak-" + now.UTC().Format("20060102T150405Z")
	for i := 1; ; i++ {
		bak := base
		if i > 1 {
			bak = fmt.Sprintf("%s.%d", base, i)
		}
		err := os.Link(path, bak)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			err = copyFile(path, bak)
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return bak, err
	}
}

// copyFile copies the file at from to the new file to, mode 0600.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// replaceFile renames tmp over path with mode 0600 and syncs the
// directory, so the rename survives a crash.
func replaceFile(tmp, path string) error {
	if err := os.Chmod(tmp, fileMode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// stat returns path's FileInfo, or nil if it cannot be read.
func stat(path string) os.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}
