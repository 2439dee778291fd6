package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"subgate/kv"
	"subgate/ledger"
)

const testAPIKey = "sk-ant-api03-DATAsecretDATAsecretDATAsecret"

// dataConfig writes a config file whose data_dir is a fresh temp dir and
// returns its path and the loaded config. keyFile, if not empty, becomes
// server.master_key_file.
func dataConfig(t *testing.T, keyFile string) (string, Config) {
	t.Helper()
	dir := t.TempDir()
	doc := "[server]\ndata_dir = " + quote(filepath.Join(dir, "data")) + "\n"
	if keyFile != "" {
		doc += "master_key_file = " + quote(keyFile) + "\n"
	}
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

// runCmd runs subgate with args and returns its output.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &out)
	return out.String(), err
}

// seedData stores an account with an API key and n ledger records.
func seedData(t *testing.T, cfg Config, account string, n int) {
	t.Helper()
	err := withStore(cfg, func(db *kv.DB) error {
		if err := db.PutAccount(kv.Account{Name: account, Platform: "anthropic", Type: "api_key", APIKey: testAPIKey}); err != nil {
			return err
		}
		recs := make([]ledger.Record, n)
		for i := range recs {
			recs[i] = ledger.Record{Time: time.Date(2026, 3, 1, 10, 0, i, 0, time.UTC), Key: "k", Account: account,
				Model: "claude-sonnet-4-5", Status: 200, CostMicros: 7}
		}
		return db.Append(recs, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "master.key")
	if out, err := runCmd(t, "secrets", "keygen", keyFile); err != nil || !strings.Contains(out, "wrote a new master key") {
		t.Fatalf("keygen = %q, %v", out, err)
	}
	cfgPath, cfg := dataConfig(t, keyFile)
	seedData(t, cfg, "before-backup", 3)

	backup := filepath.Join(t.TempDir(), "snap.db")
	out, err := runCmd(t, "backup", "-c", cfgPath, backup)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if want := "(schema 2, 1 accounts, 3 ledger records, credentials encrypted)"; !strings.Contains(out, want) {
		t.Errorf("backup output lacks %q:\n%s", want, out)
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("backup mode = %v, want %v", got, want)
	}
	if raw, _ := os.ReadFile(backup); bytes.Contains(raw, []byte(testAPIKey)) {
		t.Error("backup holds the API key in plaintext")
	}

	// Change the data after the backup; the restore must undo it.
	err = withStore(cfg, func(db *kv.DB) error {
		if err := db.DeleteAccount("before-backup"); err != nil {
			return err
		}
		return db.PutAccount(kv.Account{Name: "after-backup"})
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, "restore", backup, "-c", cfgPath)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if !strings.Contains(out, "restored "+backup) || !strings.Contains(out, "the previous database is kept as "+dbPath(cfg)+".bak-") {
		t.Errorf("restore output:\n%s", out)
	}
	bak, _ := filepath.Glob(dbPath(cfg) + ".bak-*")
	if len(bak) != 1 {
		t.Fatalf("backups of the old database: %q, want one", bak)
	}

	err = withStore(cfg, func(db *kv.DB) error {
		a, err := db.GetAccount("before-backup")
		if err != nil || a.APIKey != testAPIKey {
			t.Errorf("restored account = %+v, %v", a, err)
		}
		if _, err := db.GetAccount("after-backup"); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("account added after the backup survived the restore: %v", err)
		}
		recs, err := db.Last(10)
		if err != nil || len(recs) != 3 || recs[0].Account != "before-backup" {
			t.Errorf("restored ledger = %d records, %v", len(recs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRestoreRefusedWhileRunning(t *testing.T) {
	cfgPath, cfg := dataConfig(t, "")
	seedData(t, cfg, "a1", 1)
	backup := filepath.Join(t.TempDir(), "snap.db")
	if out, err := runCmd(t, "backup", "-c", cfgPath, backup); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}

	db, err := kv.Open(dbPath(cfg), kv.Options{}) // the "running server"
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = runCmd(t, "restore", "-c", cfgPath, backup)
	if !errors.Is(err, kv.ErrLocked) || !strings.Contains(err.Error(), "stop the running server first") {
		t.Fatalf("restore while running = %v, want ErrLocked and advice", err)
	}
	if bak, _ := filepath.Glob(dbPath(cfg) + ".bak-*"); len(bak) > 0 {
		t.Errorf("refused restore left %q", bak)
	}

	// Nor can an offline backup read the live file: bbolt's read-only open
	// takes a shared flock that the server's exclusive one excludes.
	_, err = runCmd(t, "backup", "-c", cfgPath, filepath.Join(t.TempDir(), "live.db"))
	if !errors.Is(err, kv.ErrLocked) || !strings.Contains(err.Error(), "http://127.0.0.1:8080/admin/api/backup") {
		t.Fatalf("backup while running = %v, want ErrLocked pointing at the admin endpoint", err)
	}
	if _, err := runCmd(t, "compact", "-c", cfgPath); !errors.Is(err, kv.ErrLocked) {
		t.Fatalf("compact while running = %v, want ErrLocked", err)
	}
}

func TestCompactShrinks(t *testing.T) {
	cfgPath, cfg := dataConfig(t, "")
	seedData(t, cfg, "a1", 20000)
	err := withStore(cfg, func(db *kv.DB) error {
		n, err := db.DeleteBefore(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), 1<<20)
		if n != 20000 {
			t.Errorf("deleted %d records, want 20000", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(dbPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, "compact", "-c", cfgPath)
	if err != nil {
		t.Fatalf("compact: %v\n%s", err, out)
	}
	after, err := os.Stat(dbPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() >= before.Size() {
		t.Fatalf("compact: %d → %d bytes, want smaller", before.Size(), after.Size())
	}
	want := "compacted " + dbPath(cfg) + ": " + byteSize(before.Size()) + " → " + byteSize(after.Size())
	if !strings.Contains(out, want) {
		t.Errorf("output = %q, want %q", out, want)
	}
	err = withStore(cfg, func(db *kv.DB) error {
		_, err := db.GetAccount("a1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMasterKeyFileModeRefused(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, cfg := dataConfig(t, keyFile)
	cfg.Server.Listen = "127.0.0.1:0"
	err := serve(context.Background(), cfg, &bytes.Buffer{}, &bytes.Buffer{})
	want := "server.master_key_file " + keyFile + " has mode 0644; a master key file must be mode 0600 or stricter (chmod 600 " + keyFile + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("serve with a loose key file = %v, want %q", err, want)
	}
	if _, err := os.Stat(dbPath(cfg)); err == nil {
		t.Error("serve created the database before refusing the key file")
	}

	// The environment wins and the file is not read.
	t.Setenv(masterKeyEnv, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	if key, err := masterKey(cfg.Server); err != nil || key[0] != 9 {
		t.Fatalf("masterKey with %s set = %x, %v", masterKeyEnv, key, err)
	}
	t.Setenv(masterKeyEnv, "")
	if err := os.Chmod(keyFile, 0o400); err != nil {
		t.Fatal(err)
	}
	if key, err := masterKey(cfg.Server); err != nil || key[0] != 0xab {
		t.Fatalf("masterKey from a 0400 file = %x, %v", key, err)
	}
}

func TestParseMasterKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32) // base64 of 0xfb uses + and /, or - and _
	tests := []struct {
		in string
		ok bool
	}{
		{hex.EncodeToString(raw), true},
		{strings.ToUpper(hex.EncodeToString(raw)) + "\n", true},
		{base64.StdEncoding.EncodeToString(raw), true},
		{base64.RawURLEncoding.EncodeToString(raw), true},
		{"  " + base64.URLEncoding.EncodeToString(raw) + "\r\n", true},
		{hex.EncodeToString(raw[:16]), false},
		{base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"correct horse battery staple", false},
		{"", false},
	}
	for _, tt := range tests {
		key, err := parseMasterKey(tt.in)
		if tt.ok && (err != nil || !bytes.Equal(key, raw)) {
			t.Errorf("parseMasterKey(%q) = %x, %v; want the key", tt.in, key, err)
		}
		if !tt.ok && err == nil {
			t.Errorf("parseMasterKey(%q) succeeded, want an error", tt.in)
		}
	}
}

func TestSecretsRotateCommand(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	for _, f := range []string{oldKey, newKey} {
		if _, err := runCmd(t, "secrets", "keygen", f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runCmd(t, "secrets", "keygen", oldKey); err == nil {
		t.Error("keygen overwrote an existing key file")
	}
	cfgPath, cfg := dataConfig(t, oldKey)
	seedData(t, cfg, "a1", 0)

	out, err := runCmd(t, "secrets", "rotate", "-c", cfgPath, "--new-key-file", newKey)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "re-encrypted 1 credential values in "+dbPath(cfg)+" under the new key") {
		t.Errorf("rotate output:\n%s", out)
	}
	if strings.Contains(out, testAPIKey) {
		t.Fatal("rotate printed a credential")
	}
	err = withStore(cfg, func(*kv.DB) error { return nil })
	if !errors.Is(err, kv.ErrWrongMasterKey) || !strings.Contains(err.Error(), masterKeyEnv) {
		t.Fatalf("open with the old key after rotation = %v, want ErrWrongMasterKey naming %s", err, masterKeyEnv)
	}

	cfgPath, cfg = rewriteKeyFile(t, cfgPath, cfg, newKey)
	out, err = runCmd(t, "secrets", "rotate", "-c", cfgPath, "--decrypt")
	if err != nil || !strings.Contains(out, "warning: upstream credentials are now stored unencrypted") {
		t.Fatalf("rotate --decrypt = %v:\n%s", err, out)
	}
	cfg.Server.MasterKeyFile = ""
	err = withStore(cfg, func(db *kv.DB) error {
		a, err := db.GetAccount("a1")
		if err == nil && a.APIKey != testAPIKey {
			t.Errorf("APIKey after decrypt = %q", a.APIKey)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"secrets"}, {"secrets", "rotate"}, {"secrets", "rotate", "--decrypt", "--new-key-file", newKey}, {"secrets", "bogus"}} {
		if _, err := runCmd(t, append(args, "-c", cfgPath)...); !errors.Is(err, errUsage) {
			t.Errorf("%q = %v, want a usage error", args, err)
		}
	}
}

// rewriteKeyFile points the config at keyFile.
func rewriteKeyFile(t *testing.T, cfgPath string, cfg Config, keyFile string) (string, Config) {
	t.Helper()
	doc := "[server]\ndata_dir = " + quote(cfg.Server.DataDir) + "\nmaster_key_file = " + quote(keyFile) + "\n"
	if err := os.WriteFile(cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Server.MasterKeyFile = keyFile
	return cfgPath, cfg
}

func TestEncryptedDatabaseNeedsKey(t *testing.T) {
	t.Setenv(masterKeyEnv, strings.Repeat("11", 32))
	_, cfg := dataConfig(t, "")
	seedData(t, cfg, "a1", 0)
	t.Setenv(masterKeyEnv, "")
	err := withStore(cfg, func(*kv.DB) error { return nil })
	if !errors.Is(err, kv.ErrNoMasterKey) || !strings.Contains(err.Error(), "set SUBGATE_MASTER_KEY (hex or base64 of 32 bytes) or server.master_key_file") {
		t.Fatalf("open without a key = %v, want ErrNoMasterKey naming the variable", err)
	}
}

func TestServeWarnsWithoutKey(t *testing.T) {
	for _, key := range []string{"", strings.Repeat("22", 32)} {
		t.Setenv(masterKeyEnv, key)
		_, cfg := dataConfig(t, "")
		cfg.Server.Listen = "127.0.0.1:0"
		cfg.Server.LogFormat = "json"
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // start, then shut down at once
		var logs bytes.Buffer
		if err := serve(ctx, cfg, &bytes.Buffer{}, &logs); err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(logs.String(), msgPlaintext)
		if warned != (key == "") {
			t.Errorf("key %q: warned = %v, want %v; logs:\n%s", key, warned, key == "", logs.String())
		}
	}
}
