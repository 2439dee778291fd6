package main

// cmd_data.go: the offline commands on the database: backup, restore,
// compact and secrets (rotate, keygen). The logic is kv's; these parse
// flags, explain the usual failures and print.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"subgate/kv"
)

const (
	backupUsage  = "subgate backup [-c FILE] OUT   (OUT \"-\" writes to stdout)"
	restoreUsage = "subgate restore [-c FILE] IN"
	compactUsage = "subgate compact [-c FILE]"
)

// cmdBackup writes a consistent snapshot of the data dir's database to
// OUT with mode 0600, through a temporary file renamed into place, so OUT
// is never a partial copy. The server must be stopped: its lock keeps
// even a read-only open out (see backupError).
func cmdBackup(cfg Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return usageError("%s", backupUsage)
	}
	out, path := args[0], dbPath(cfg)
	if out == "-" {
		_, err := kv.Snapshot(path, stdout)
		return backupError(cfg, out, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	info, err := kv.Snapshot(path, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return backupError(cfg, out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s to %s (%s)\n", byteSize(info.Size), out, describe(info))
	if info.Encrypted {
		fmt.Fprintf(stdout, "its credentials are encrypted: keep the master key too, stored apart from the backup\n")
	} else {
		fmt.Fprintf(stdout, "warning: its upstream credentials are unencrypted; store it like a password file\n")
	}
	return nil
}

// backupError explains the two usual failures of a backup: no database
// yet, and a running server. bbolt's read-only open takes a shared flock,
// which the server's exclusive flock excludes, so an offline backup cannot
// read a live database; the running server streams its own snapshot.
func backupError(cfg Config, out string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no database at %s to back up: %w", dbPath(cfg), fs.ErrNotExist)
	case errors.Is(err, kv.ErrLocked):
		return fmt.Errorf("%w: a running server's lock keeps out even a read-only open; "+
			"download a snapshot from it instead:\n  curl -fsS -H \"Authorization: Bearer $ADMIN_TOKEN\" -o %s %s/admin/api/backup",
			err, out, adminURL(cfg.Server))
	}
	return fmt.Errorf("backup: %w", err)
}

// adminURL is where this machine reaches the admin API of a server run
// with sc.
func adminURL(sc ServerConfig) string {
	addr := sc.Listen
	if sc.AdminListen != "" {
		addr = sc.AdminListen
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if sc.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// cmdRestore replaces the data dir's database with the backup IN, after
// checking IN (a subgate database, not newer than this binary, consistent,
// openable with the configured master key). It refuses while a server
// runs on the data dir, and keeps the old database as subgate.db.bak-TIME.
func cmdRestore(cfg Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return usageError("%s", restoreUsage)
	}
	key, err := masterKey(cfg.Server)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	path := dbPath(cfg)
	r, err := kv.Restore(path, args[0], key)
	if err != nil {
		return openError(err)
	}
	fmt.Fprintf(stdout, "restored %s into %s (%s)\n", args[0], path, describe(r.Info))
	if r.Backup != "" {
		fmt.Fprintf(stdout, "the previous database is kept as %s\n", r.Backup)
	}
	if r.Schema < kv.SchemaVersion {
		fmt.Fprintf(stdout, "the next start migrates it from schema %d to %d\n", r.Schema, kv.SchemaVersion)
	}
	return nil
}

// cmdCompact rewrites the database without its free pages, offline.
func cmdCompact(cfg Config, args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return usageError("%s", compactUsage)
	}
	path := dbPath(cfg)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s to compact: %w", path, fs.ErrNotExist)
	}
	before, after, err := kv.Compact(path)
	if err != nil {
		return openError(err)
	}
	_, err = fmt.Fprintf(stdout, "compacted %s: %s → %s\n", path, byteSize(before), byteSize(after))
	return err
}

func describe(i kv.Info) string {
	enc := "credentials unencrypted"
	if i.Encrypted {
		enc = "credentials encrypted"
	}
	return fmt.Sprintf("schema %d, %d accounts, %d ledger records, %s", i.Schema, i.Accounts, i.Records, enc)
}

// byteSize formats n bytes for people: 512 B, 3.2 KiB, 41.0 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if f < unit {
			break
		}
		f, suffix = f/unit, s
	}
	return fmt.Sprintf("%.1f %s", f, suffix)
}

// cmdData dispatches the offline data commands.
func cmdData(cmd string, cfg Config, args []string, stdout io.Writer) error {
	switch cmd {
	case "backup":
		return cmdBackup(cfg, args, stdout)
	case "restore":
		return cmdRestore(cfg, args, stdout)
	case "compact":
		return cmdCompact(cfg, args, stdout)
	}
	return cmdSecrets(cfg, args, stdout)
}

const secretsUsage = `subgate secrets rotate [-c FILE] --new-key-file F | --decrypt
       subgate secrets keygen FILE`

// cmdSecrets implements `subgate secrets ...`; args follow "secrets".
func cmdSecrets(cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", secretsUsage)
	}
	switch args[0] {
	case "rotate":
		return cmdSecretsRotate(cfg, args[1:], stdout)
	case "keygen":
		return cmdSecretsKeygen(args[1:], stdout)
	}
	return usageError("unknown secrets command %q\n%s", args[0], secretsUsage)
}

// cmdSecretsRotate re-encrypts every stored credential under a new key,
// or decrypts them with --decrypt, in one transaction. The server must
// be stopped; the current key comes from the usual sources.
func cmdSecretsRotate(cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("secrets rotate", flag.ContinueOnError)
	newFile := fs.String("new-key-file", "", "file holding the new master key (mode 0600)")
	decrypt := fs.Bool("decrypt", false, "store the credentials in plaintext")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return usageError("%s (%v)", secretsUsage, err)
	}
	if len(pos) > 0 || (*newFile == "") == !*decrypt {
		return usageError("%s", secretsUsage)
	}
	oldKey, err := masterKey(cfg.Server)
	if err != nil {
		return err
	}
	var newKey []byte
	if !*decrypt {
		if newKey, err = readKeyFile(*newFile, "--new-key-file"); err != nil {
			return err
		}
	}
	path := dbPath(cfg)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no database at %s to rotate: %w", path, os.ErrNotExist)
	}
	n, err := kv.RotateKey(path, kv.Options{MasterKey: oldKey}, newKey)
	if err != nil {
		return openError(err)
	}
	if *decrypt {
		_, err = fmt.Fprintf(stdout, "warning: upstream credentials are now stored unencrypted in %s\n"+
			"decrypted %d credential values; unset %s and server.master_key_file, or the next start encrypts them again\n",
			path, n, masterKeyEnv)
		return err
	}
	_, err = fmt.Fprintf(stdout, "re-encrypted %d credential values in %s under the new key\n"+
		"before the next start, point server.master_key_file at %s (or set %s to its contents);\n"+
		"the old key no longer opens this database, but backups made before still need it\n",
		n, path, *newFile, masterKeyEnv)
	return err
}

// cmdSecretsKeygen writes a new random master key, in hex, to a new file
// with mode 0600.
func cmdSecretsKeygen(args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usageError("%s", secretsUsage)
	}
	key := make([]byte, kv.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	_, err = fmt.Fprintln(f, hex.EncodeToString(key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write master key: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "wrote a new master key to %s\n"+
		"use it with server.master_key_file = %q (or %s=$(cat %s)); credentials are encrypted at the next start.\n"+
		"keep a copy apart from your backups: without it the stored credentials cannot be read.\n",
		args[0], args[0], masterKeyEnv, args[0])
	return err
}
