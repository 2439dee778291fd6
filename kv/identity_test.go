package kv_test

import (
	"errors"
	"testing"

	"subgate/kv"
	"subgate/kv/kvtest"
)

func TestIdentityCRUD(t *testing.T) {
	db := kvtest.Open(t)
	if _, ok, err := db.LoadIdentity("max1"); err != nil || ok {
		t.Fatalf("LoadIdentity before save = %v, %v; want not found", ok, err)
	}
	want := []byte(`{"device_id":"ea5f84ad00a2891a0bc7f7fd7510334d0fb8d40b89336c15f45610d748c9dd7c","claude":{"user_agent":"claude-cli/2.1.332 (external, cli)"}}`)
	if err := db.SaveIdentity("max1", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.LoadIdentity("max1")
	if err != nil || !ok {
		t.Fatalf("LoadIdentity = %v, %v", ok, err)
	}
	if string(got) != string(want) {
		t.Errorf("LoadIdentity = %s, want %s", got, want)
	}
	if err := db.SaveIdentity("", want); err == nil {
		t.Error("SaveIdentity accepted an empty name")
	}
	if err := db.DeleteIdentity("max1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteIdentity("max1"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("DeleteIdentity twice = %v, want ErrNotFound", err)
	}
	if _, ok, _ := db.LoadIdentity("max1"); ok {
		t.Error("identity still there after DeleteIdentity")
	}
}

func TestErrorRulesDocument(t *testing.T) {
	db := kvtest.Open(t)
	if doc, err := db.LoadErrorRules(); err != nil || doc != nil {
		t.Fatalf("LoadErrorRules before save = %s, %v; want nil", doc, err)
	}
	for _, want := range []string{`[{"id":"1","status":[429],"action":"pass"}]`, `[]`} {
		if err := db.SaveErrorRules([]byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := db.LoadErrorRules()
		if err != nil || string(got) != want {
			t.Errorf("LoadErrorRules = %s, %v; want %s", got, err, want)
		}
	}
}
