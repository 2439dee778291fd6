package kv_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"subgate/kv"
	"subgate/kv/kvtest"

	"go.etcd.io/bbolt"
)

// testKey returns a 32-byte master key filled with b.
func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, kv.MasterKeySize) }

// Credentials stored by putSecrets; none is a substring of another or of
// any other stored byte.
var secrets = []string{"APIKEYplain0001", "ACCESSplain0002", "REFRESHplain0003", "IDTOKENplain0004",
	"TOKACCESSplain0005", "TOKREFRESHplain0006", "TOKIDplain0007"}

// putSecrets stores an account with every credential field, a rotated
// token for it, and a token for a config account.
func putSecrets(t *testing.T, db *kv.DB) {
	t.Helper()
	a := kv.Account{Name: "a1", Platform: "anthropic", Type: "oauth", APIKey: secrets[0],
		AccessToken: secrets[1], RefreshToken: secrets[2], IDToken: secrets[3]}
	if err := db.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	tok := kv.Token{AccessToken: secrets[4], RefreshToken: secrets[5], IDToken: secrets[6],
		ExpiresAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := db.SaveToken("cfg1", tok); err != nil {
		t.Fatal(err)
	}
}

// checkSecrets reads back what putSecrets stored.
func checkSecrets(t *testing.T, db *kv.DB) {
	t.Helper()
	a, err := db.GetAccount("a1")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{a.APIKey, a.AccessToken, a.RefreshToken, a.IDToken}
	list, err := db.Accounts()
	if err != nil || len(list) != 1 || list[0].RefreshToken != secrets[2] {
		t.Fatalf("Accounts = %+v, %v", list, err)
	}
	tok, err := db.LoadToken("cfg1")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, tok.AccessToken, tok.RefreshToken, tok.IDToken)
	if strings.Join(got, ",") != strings.Join(secrets, ",") {
		t.Fatalf("credentials = %q, want %q", got, secrets)
	}
}

// rawValues returns every value of every bucket of the closed file at path,
// as bbolt stores them.
func rawValues(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var vals [][]byte
	raw.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(_, v []byte) error {
				vals = append(vals, bytes.Clone(v))
				return nil
			})
		})
	})
	return vals
}

// plaintextIn returns the secrets found in any of blobs.
func plaintextIn(blobs ...[]byte) []string {
	var found []string
	for _, s := range secrets {
		for _, b := range blobs {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, s)
				break
			}
		}
	}
	return found
}

func openKey(t *testing.T, path string, key []byte) *kv.DB {
	t.Helper()
	db, err := kv.Open(path, kv.Options{MasterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func closeDB(t *testing.T, db *kv.DB) {
	t.Helper()
	if err := db.Check(); err != nil {
		t.Error(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsEncrypted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, testKey(1))
	putSecrets(t, db)
	checkSecrets(t, db)
	closeDB(t, db)

	vals := rawValues(t, path)
	if found := plaintextIn(vals...); len(found) > 0 {
		t.Fatalf("bucket values hold plaintext %q", found)
	}
	if got, want := bytes.Count(bytes.Join(vals, nil), []byte(`"enc:v1:`)), len(secrets); got != want {
		t.Errorf("%d sealed JSON fields on disk, want %d", got, want)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if found := plaintextIn(file); len(found) > 0 {
		t.Fatalf("file bytes hold plaintext %q", found)
	}

	db = openKey(t, path, testKey(1))
	checkSecrets(t, db)
	// A rotation reaches the stored account through SaveToken, sealed
	// under the account's own place.
	if err := db.SaveToken("a1", kv.Token{AccessToken: "rotatedACCESS", RefreshToken: "rotatedREFRESH"}); err != nil {
		t.Fatal(err)
	}
	a, err := db.GetAccount("a1")
	if err != nil || a.AccessToken != "rotatedACCESS" || a.RefreshToken != "rotatedREFRESH" || a.APIKey != secrets[0] {
		t.Fatalf("GetAccount after SaveToken = %+v, %v", a, err)
	}
	closeDB(t, db)
	if bytes.Contains(bytes.Join(rawValues(t, path), nil), []byte("rotated")) {
		t.Fatal("bucket values hold a rotated token in plaintext")
	}
}

func TestSecretsPlaintextWithoutKey(t *testing.T) {
	db, err := kv.Open(filepath.Join(t.TempDir(), "subgate.db"), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	putSecrets(t, db)
	checkSecrets(t, db)
	closeDB(t, db)
	if got, want := len(plaintextIn(rawValues(t, path)...)), len(secrets); got != want {
		t.Fatalf("%d of %d secrets stored as they are, want all", got, want)
	}
}

func TestSecretsWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, testKey(1))
	putSecrets(t, db)
	closeDB(t, db)

	_, err := kv.Open(path, kv.Options{MasterKey: testKey(2)})
	if !errors.Is(err, kv.ErrWrongMasterKey) {
		t.Fatalf("Open with another key = %v, want ErrWrongMasterKey", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("err = %q, want the path named", err)
	}
	_, err = kv.Open(path, kv.Options{MasterKey: testKey(1)[:16]})
	if err == nil || !strings.Contains(err.Error(), "16 bytes, want 32") {
		t.Fatalf("Open with a 16-byte key = %v, want a length error", err)
	}
	db = openKey(t, path, testKey(1))
	checkSecrets(t, db)
	closeDB(t, db)
}

func TestSecretsMissingKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, testKey(1))
	putSecrets(t, db)
	closeDB(t, db)

	_, err := kv.Open(path, kv.Options{})
	if !errors.Is(err, kv.ErrNoMasterKey) {
		t.Fatalf("Open without a key = %v, want ErrNoMasterKey", err)
	}
	if err := kvtest.Open(t).PutMeta("master_key_check", "x"); err == nil {
		t.Error("PutMeta(master_key_check) succeeded, want reserved")
	}
}

func TestSecretsEnableKeyOnPlaintext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, nil)
	putSecrets(t, db)
	closeDB(t, db)

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	db, err := kv.Open(path, kv.Options{MasterKey: testKey(3), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, db)
	closeDB(t, db)
	// The account's 4 fields and the config account's 3 token fields; the
	// SaveToken copy of a1 has no token entry.
	if !strings.Contains(logs.String(), "kv encrypted stored credentials") || !strings.Contains(logs.String(), "values=7") {
		t.Fatalf("log lacks the encryption message with values=7:\n%s", logs.String())
	}
	if found := plaintextIn(rawValues(t, path)...); len(found) > 0 {
		t.Fatalf("bucket values still hold plaintext %q", found)
	}

	logs.Reset()
	db, err = kv.Open(path, kv.Options{MasterKey: testKey(3), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, db)
	closeDB(t, db)
	if strings.Contains(logs.String(), "encrypted stored credentials") {
		t.Errorf("second open logged the encryption again:\n%s", logs.String())
	}
	if _, err := kv.Open(path, kv.Options{}); !errors.Is(err, kv.ErrNoMasterKey) {
		t.Fatalf("Open without a key = %v, want ErrNoMasterKey", err)
	}

	// Free pages keep the old plaintext until a compaction drops them.
	if _, _, err := kv.Compact(path); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if found := plaintextIn(file); len(found) > 0 {
		t.Fatalf("compacted file holds plaintext %q", found)
	}
}

func TestRotateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, testKey(1))
	putSecrets(t, db)
	closeDB(t, db)

	n, err := kv.RotateKey(path, kv.Options{MasterKey: testKey(1)}, testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	// a1's 4 fields, a1 has no token, cfg1's 3 token fields.
	if got, want := n, 7; got != want {
		t.Fatalf("RotateKey rewrote %d values, want %d", got, want)
	}
	if _, err := kv.Open(path, kv.Options{MasterKey: testKey(1)}); !errors.Is(err, kv.ErrWrongMasterKey) {
		t.Fatalf("Open with the old key = %v, want ErrWrongMasterKey", err)
	}
	db = openKey(t, path, testKey(2))
	checkSecrets(t, db)
	closeDB(t, db)

	if _, err := kv.RotateKey(path, kv.Options{MasterKey: testKey(1)}, testKey(3)); !errors.Is(err, kv.ErrWrongMasterKey) {
		t.Fatalf("RotateKey from a wrong key = %v, want ErrWrongMasterKey", err)
	}

	n, err = kv.RotateKey(path, kv.Options{MasterKey: testKey(2)}, nil)
	if err != nil || n != 7 {
		t.Fatalf("RotateKey to plaintext = %d, %v; want 7", n, err)
	}
	if got := len(plaintextIn(rawValues(t, path)...)); got != len(secrets) {
		t.Fatalf("%d of %d secrets in plaintext after decrypting, want all", got, len(secrets))
	}
	db = openKey(t, path, nil)
	checkSecrets(t, db)
	closeDB(t, db)
}

func TestRotateKeyLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, nil)
	defer db.Close()
	if _, err := kv.RotateKey(path, kv.Options{}, testKey(1)); !errors.Is(err, kv.ErrLocked) {
		t.Fatalf("RotateKey of an open database = %v, want ErrLocked", err)
	}
}

// A ciphertext is bound to its account and field: copied into another
// account it does not decrypt.
func TestSecretsBoundToPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openKey(t, path, testKey(1))
	for _, name := range []string{"a", "b"} {
		if err := db.PutAccount(kv.Account{Name: name, APIKey: "key-of-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	closeDB(t, db)

	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("accounts"))
		var va, vb map[string]any
		if err := json.Unmarshal(b.Get([]byte("a")), &va); err != nil {
			return err
		}
		if err := json.Unmarshal(b.Get([]byte("b")), &vb); err != nil {
			return err
		}
		vb["api_key"] = va["api_key"]
		data, err := json.Marshal(vb)
		if err != nil {
			return err
		}
		return b.Put([]byte("b"), data)
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	db = openKey(t, path, testKey(1))
	defer db.Close()
	if _, err := db.GetAccount("b"); err == nil || !strings.Contains(err.Error(), "api_key: decrypt") {
		t.Fatalf("GetAccount with a moved ciphertext = %v, want a decrypt error", err)
	}
	if a, err := db.GetAccount("a"); err != nil || a.APIKey != "key-of-a" {
		t.Fatalf("GetAccount(a) = %+v, %v", a, err)
	}
}
