package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"subgate/kv"
)

// masterKeyEnv holds the master key (hex or base64 of 32 bytes). It wins
// over server.master_key_file.
const masterKeyEnv = "SUBGATE_MASTER_KEY"

// msgPlaintext is serve's start-up warning when no master key is set.
const msgPlaintext = "upstream credentials are stored unencrypted; set " + masterKeyEnv + " or server.master_key_file"

// masterKey returns the key from SUBGATE_MASTER_KEY, else from
// server.master_key_file, else nil: credentials are stored in plaintext.
func masterKey(sc ServerConfig) ([]byte, error) {
	if v := os.Getenv(masterKeyEnv); v != "" {
		key, err := parseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", masterKeyEnv, err)
		}
		return key, nil
	}
	if sc.MasterKeyFile == "" {
		return nil, nil
	}
	return readKeyFile(sc.MasterKeyFile, "server.master_key_file")
}

// readKeyFile reads a master key file; what names its source in errors.
// Like ssh with a private key, it refuses a file that others may read.
func readKeyFile(path, what string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
		return nil, fmt.Errorf("%s %s has mode %04o; a master key file must be mode 0600 or stricter (chmod 600 %s)",
			what, path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	key, err := parseMasterKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return key, nil
}

// parseMasterKey decodes 32 bytes from hex or base64 (standard or URL
// alphabet, padded or not), ignoring surrounding white space.
func parseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*kv.MasterKeySize {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil && len(key) == kv.MasterKeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("not a %d-byte key in hex (%d digits) or base64 (`subgate secrets keygen FILE` makes one)",
		kv.MasterKeySize, 2*kv.MasterKeySize)
}

// openError adds what the user can do to an error of kv.Open and friends.
func openError(err error) error {
	switch {
	case errors.Is(err, kv.ErrLocked):
		return fmt.Errorf("%w; stop the running server first", err)
	case errors.Is(err, kv.ErrNoMasterKey):
		return fmt.Errorf("%w; set %s (hex or base64 of 32 bytes) or server.master_key_file to its key", err, masterKeyEnv)
	case errors.Is(err, kv.ErrWrongMasterKey):
		return fmt.Errorf("%w; check %s and server.master_key_file (%s wins)", err, masterKeyEnv, masterKeyEnv)
	}
	return err
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
