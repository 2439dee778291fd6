package kv_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"subgate/kv"
	"subgate/kv/kvtest"
	"subgate/proxy/identity"
)

func TestIdentityCRUD(t *testing.T) {
	db := kvtest.Open(t)
	if _, ok, err := db.LoadIdentity("max1"); err != nil || ok {
		t.Fatalf("LoadIdentity before save = %v, %v; want not found", ok, err)
	}
	want := identity.Identity{
		DeviceID:       "ea5f84ad00a2891a0bc7f7fd7510334d0fb8d40b89336c15f45610d748c9dd7c",
		AccountUUID:    "a929b7ef-d758-4a98-b88e-07166e6c8537",
		Salt:           "11493e361cb72c86e3b19ef2f25aaaa9431aea6a0d0eac2c997b1c12d065d890",
		InstallationID: "8f9746a8-ff1d-42b5-b6c4-86c83941b99f",
		Claude:         &identity.Profile{UserAgent: "claude-cli/2.1.332 (external, cli)", OS: "Linux"},
		Created:        time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
	}
	if err := db.SaveIdentity("max1", want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.LoadIdentity("max1")
	if err != nil || !ok {
		t.Fatalf("LoadIdentity = %v, %v", ok, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadIdentity = %+v, want %+v", got, want)
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

// TestIdentitySurvivesRestart: an account registered through a Manager on
// kv is the same device after the process restarts, and a profile it
// learned (saved by the debounced saver at Close) comes back too.
func TestIdentitySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	spec := identity.Spec{Name: "max1", Platform: "anthropic", Type: "oauth"}

	db, err := kv.Open(path, kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := identity.New(identity.Config{Store: db, Debounce: time.Hour})
	a, err := m.Register(spec)
	if err != nil {
		t.Fatal(err)
	}
	first := a.Identity()
	h := map[string]string{
		"user-agent": "claude-cli/9.0.0 (external, cli)", "x-app": "cli", "x-stainless-lang": "js",
		"x-stainless-package-version": "0.200.0", "x-stainless-os": "MacOS", "x-stainless-arch": "arm64",
		"x-stainless-runtime": "node", "x-stainless-runtime-version": "v30.0.0",
	}
	a.ObserveClaude(func(k string) string { return h[k] })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = kv.Open(path, kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m = identity.New(identity.Config{Store: db})
	defer m.Close()
	a, err = m.Register(spec)
	if err != nil {
		t.Fatal(err)
	}
	again := a.Identity()
	if got, want := again.DeviceID, first.DeviceID; got != want {
		t.Errorf("device after restart = %s, want %s", got, want)
	}
	if got, want := again.InstallationID, first.InstallationID; got != want {
		t.Errorf("installation after restart = %s, want %s", got, want)
	}
	claude, _ := a.Profile()
	if got, want := claude.UserAgent, h["user-agent"]; got != want {
		t.Errorf("learned user agent after restart = %q, want %q", got, want)
	}
}
