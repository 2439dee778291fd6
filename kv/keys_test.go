package kv_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"subgate/kv"
	"subgate/kv/kvtest"
	"subgate/ledger"
)

func hashOf(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func TestKeysCRUD(t *testing.T) {
	db := kvtest.Open(t)
	if _, err := db.GetKey("nope"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("GetKey(missing) err = %v, want ErrNotFound", err)
	}
	if err := db.DeleteKey("nope"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("DeleteKey(missing) err = %v, want ErrNotFound", err)
	}
	for _, bad := range []kv.Key{{Hash: hashOf("x")}, {Name: "n", Hash: "abc"}, {Name: "n", Hash: hashOf("x")[:62] + "zz"}} {
		if err := db.PutKey(bad); err == nil {
			t.Errorf("PutKey(%+v) succeeded", bad)
		}
	}

	bob := kv.Key{
		Name: "bob", Hash: hashOf("sk-bob"), Group: "friends", Concurrency: 2, RPM: 30,
		Limit5hUSD: 1.5, LimitDayUSD: 5, LimitWeekUSD: 20, LimitMonthUSD: 50, QuotaUSD: 200,
		ExpiresAt: kv.Time{Time: t0.Add(30 * 24 * time.Hour)}, Models: []string{"claude-*"}, AllowIPs: []string{"10.0.0.0/8"},
		RateMultiplier: 1.2, Enabled: true, InterceptWarmup: true,
	}
	if err := db.PutKey(bob); err != nil {
		t.Fatal(err)
	}
	if err := db.PutKey(kv.Key{Name: "alice", Hash: hashOf("sk-alice"), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetKey("bob")
	if err != nil {
		t.Fatal(err)
	}
	if got.Created.IsZero() {
		t.Fatal("Created not set")
	}
	created := got.Created
	bob.Created = created
	if !reflect.DeepEqual(got, bob) {
		t.Fatalf("GetKey = %+v\nwant %+v", got, bob)
	}

	// Update keeps Created; a second key may not reuse a secret.
	bob.Created, bob.Enabled = time.Time{}, false
	if err := db.PutKey(bob); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetKey("bob"); got.Enabled || !got.Created.Equal(created) {
		t.Fatalf("after update: %+v", got)
	}
	if err := db.PutKey(kv.Key{Name: "eve", Hash: bob.Hash}); !errors.Is(err, kv.ErrExists) {
		t.Fatalf("PutKey with a used hash: err = %v, want ErrExists", err)
	}

	keys, err := db.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "alice" || keys[1].Name != "bob" {
		t.Fatalf("Keys = %+v, want alice, bob", keys)
	}
	if err := db.DeleteKey("alice"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.Keys(); len(keys) != 1 {
		t.Fatalf("Keys after delete = %d, want 1", len(keys))
	}
}

func TestKeyLimits(t *testing.T) {
	k := kv.Key{RPM: 10, Limit5hUSD: 1.5, LimitDayUSD: 0.000001, LimitWeekUSD: 20, LimitMonthUSD: 0, QuotaUSD: 100, RateMultiplier: 2}
	want := ledger.Limits{RPM: 10, Limit5h: 1_500_000, LimitDay: 1, LimitWeek: 20_000_000, Quota: 100_000_000, RateMultiplier: 2}
	if got := k.Limits(); got != want {
		t.Fatalf("Limits = %+v, want %+v", got, want)
	}
}
