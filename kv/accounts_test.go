package kv_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"subgate/kv"
	"subgate/kv/kvtest"
)

func TestAccountsCRUD(t *testing.T) {
	db := kvtest.Open(t)
	if _, err := db.GetAccount("nope"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("GetAccount(missing) err = %v, want ErrNotFound", err)
	}
	if err := db.PutAccount(kv.Account{}); err == nil {
		t.Fatal("PutAccount without a name succeeded")
	}

	b := kv.Account{
		Name: "b", Platform: "anthropic", Type: "oauth", AccessToken: "at", RefreshToken: "rt",
		ExpiresAt: kv.Time{Time: t0}, Concurrency: 3, Group: "default", Models: []string{"claude-*"},
		ModelMap: map[string]string{"x": "y"},
	}
	for _, a := range []kv.Account{b, {Name: "a", Platform: "openai", Type: "api_key", APIKey: "sk"}} {
		if err := db.PutAccount(a); err != nil {
			t.Fatal(err)
		}
	}

	got, err := db.GetAccount("b")
	if err != nil {
		t.Fatal(err)
	}
	if got.Created.IsZero() {
		t.Fatal("Created not set")
	}
	created := got.Created
	b.Created = created // t0 is UTC with no monotonic reading, so the rest round-trips exactly
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("GetAccount = %+v, want %+v", got, b)
	}

	// Upsert keeps Created when the new value leaves it zero.
	b.Created = time.Time{}
	b.Concurrency = 5
	if err := db.PutAccount(b); err != nil {
		t.Fatal(err)
	}
	got, err = db.GetAccount("b")
	if err != nil {
		t.Fatal(err)
	}
	if got.Concurrency != 5 || !got.Created.Equal(created) {
		t.Fatalf("after upsert Concurrency = %d, Created = %v; want 5, %v", got.Concurrency, got.Created, created)
	}

	list, err := db.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(list), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Accounts = %v, want %v", got, want)
	}

	if err := db.DeleteAccount("a"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAccount("a"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("second DeleteAccount err = %v, want ErrNotFound", err)
	}
	list, err = db.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(list), []string{"b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Accounts after delete = %v, want %v", got, want)
	}
}

func names(list []kv.Account) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.Name)
	}
	return out
}

func TestTokens(t *testing.T) {
	db := kvtest.Open(t)
	if _, err := db.LoadToken("cfg"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("LoadToken(missing) err = %v, want ErrNotFound", err)
	}

	// A config account: only the token is stored.
	tok := kv.Token{AccessToken: "at1", RefreshToken: "rt1", IDToken: "id1", ExpiresAt: t0}
	if err := db.SaveToken("cfg", tok); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadToken("cfg")
	if err != nil {
		t.Fatal(err)
	}
	if got.Updated.IsZero() {
		t.Fatal("Updated not set")
	}
	if got.AccessToken != "at1" || got.RefreshToken != "rt1" || got.IDToken != "id1" || !got.ExpiresAt.Equal(t0) {
		t.Fatalf("LoadToken = %+v", got)
	}
	if _, err := db.GetAccount("cfg"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("SaveToken created an account: err = %v", err)
	}
}

func TestSaveTokenUpdatesAccount(t *testing.T) {
	db := kvtest.Open(t)
	a := kv.Account{Name: "o", Platform: "openai", Type: "oauth", AccessToken: "old", RefreshToken: "old", AccountID: "acc"}
	if err := db.PutAccount(a); err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Hour)
	if err := db.SaveToken("o", kv.Token{AccessToken: "at2", RefreshToken: "rt2", IDToken: "id2", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetAccount("o")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != "at2" || got.RefreshToken != "rt2" || got.IDToken != "id2" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("account credentials = %q %q %q %v, want the saved token", got.AccessToken, got.RefreshToken, got.IDToken, got.ExpiresAt)
	}
	if got.AccountID != "acc" || got.Platform != "openai" {
		t.Fatalf("SaveToken changed other fields: %+v", got)
	}

	// Deleting the account drops its token too.
	if err := db.DeleteAccount("o"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LoadToken("o"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("LoadToken after DeleteAccount err = %v, want ErrNotFound", err)
	}
}
