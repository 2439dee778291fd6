package main

import (
	"path/filepath"
	"testing"

	"subgate/kv"
	"subgate/proxy/identity"
)

// TestProxyPoolDropsIdentitiesOfRemovedAccounts: rebuilding the pool after
// an account is deleted (or stops being masked) drops its identity handle,
// so months of admin edits do not pile handles up; an account added back
// under the same name is still the same device.
func TestProxyPoolDropsIdentitiesOfRemovedAccounts(t *testing.T) {
	db, err := kv.Open(filepath.Join(t.TempDir(), "subgate.db"), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := identity.New(identity.Config{Store: db})
	defer ids.Close()
	oauth := func(name string) kv.Account {
		return kv.Account{Name: name, Platform: "anthropic", Type: "setup_token", AccessToken: "sk-ant-oat01-" + name}
	}
	pool := func(accounts ...kv.Account) {
		t.Helper()
		if _, _, err := proxyPool(accounts, nil, ids); err != nil {
			t.Fatal(err)
		}
	}

	pool(oauth("max1"), oauth("max2"), oauth("max3"))
	device := ids.Get("max2").Identity().DeviceID

	passthrough := oauth("max3")
	passthrough.Identity = "passthrough"
	pool(oauth("max1"), passthrough) // max2 deleted, max3 no longer masked
	for _, tt := range []struct {
		name string
		want bool
	}{{"max1", true}, {"max2", false}, {"max3", false}} {
		if got := ids.Get(tt.name) != nil; got != tt.want {
			t.Errorf("handle of %s kept = %v, want %v", tt.name, got, tt.want)
		}
	}

	pool(oauth("max1"), oauth("max2"))
	if got, want := ids.Get("max2").Identity().DeviceID, device; got != want {
		t.Errorf("max2 added back as device %s, want %s", got, want)
	}
}
