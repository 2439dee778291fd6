package identity_test

import (
	"path/filepath"
	"testing"
	"time"

	"subgate/kv"
	"subgate/proxy/identity"
)

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
