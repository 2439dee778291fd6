package webui

import (
	"context"
	"strings"
	"testing"
	"time"

	"subgate/kv"
)

func TestCreateKey(t *testing.T) {
	hs := newHarness(t)
	var got kv.Key
	create := hs.keys.CreateFn
	hs.keys.CreateFn = func(ctx context.Context, k kv.Key) (string, error) { got = k; return create(ctx, k) }
	exp := hs.clock.now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	r := hs.send("POST", "/admin/api/keys", map[string]any{"name": "alice", "limit_5h_usd": 2.5, "quota_usd": 100,
		"expires_at": exp.Format(time.RFC3339), "allow_ips": []string{"10.0.0.0/8", "192.0.2.7"},
		"models": []string{"claude-*"}, "rpm": 30}).must(t, 201)
	m := r.json(t)
	if s, _ := m["secret"].(string); !strings.HasPrefix(s, "sk-sg-") {
		t.Fatalf("secret = %v", m["secret"])
	}
	k := m["key"].(map[string]any)
	if k["name"] != "alice" || k["enabled"] != true || k["rate_multiplier"] != 1.0 || k["source"] != "ui" ||
		k["limit_5h_usd"] != 2.5 || k["rpm"] != 30.0 {
		t.Errorf("key = %v", k)
	}
	if !got.Enabled || got.RateMultiplier != 1 || !got.ExpiresAt.Equal(exp) || len(got.AllowIPs) != 2 {
		t.Errorf("Create got %+v", got)
	}
	// The secret is never listed.
	list := hs.send("GET", "/admin/api/keys", nil).must(t, 200)
	if strings.Contains(string(list.body), "sk-sg-") {
		t.Fatalf("key list shows a secret: %s", list.body)
	}
}

func TestCreateKeyValidation(t *testing.T) {
	hs := newHarness(t)
	past := hs.clock.now().Add(-time.Hour).Format(time.RFC3339)
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "name"},
		{map[string]any{"name": "has space"}, "name"},
		{map[string]any{"name": "team"}, "name"},
		{map[string]any{"name": "k", "rpm": -1}, "rpm"},
		{map[string]any{"name": "k", "rpm": "fast"}, "rpm"},
		{map[string]any{"name": "k", "concurrency": -3}, "concurrency"},
		{map[string]any{"name": "k", "limit_5h_usd": -1}, "limit_5h_usd"},
		{map[string]any{"name": "k", "limit_month_usd": 2e12}, "limit_month_usd"},
		{map[string]any{"name": "k", "rate_multiplier": 500}, "rate_multiplier"},
		{map[string]any{"name": "k", "expires_at": past}, "expires_at"},
		{map[string]any{"name": "k", "expires_at": "next tuesday"}, "expires_at"},
		{map[string]any{"name": "k", "allow_ips": []string{"10.0.0.0/99"}}, "allow_ips"},
		{map[string]any{"name": "k", "models": []string{"["}}, "models"},
		{map[string]any{"name": "k", "secret": "mine"}, "secret"},
	} {
		r := hs.send("POST", "/admin/api/keys", c.body).must(t, 400)
		if got := r.errField(t); got != c.field {
			t.Errorf("%v: field %q, want %q (%s)", c.body, got, c.field, r.body)
		}
	}
}

func TestListKeys(t *testing.T) {
	hs := newHarness(t)
	m := hs.send("GET", "/admin/api/keys", nil).must(t, 200).json(t)
	keys := m["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("keys = %v", keys)
	}
	k := keys[0].(map[string]any)
	if k["source"] != "config" || k["limit_day_usd"] != 20.0 || k["expires_at"] != nil {
		t.Errorf("key = %v", k)
	}
	ws := k["windows"].([]any)
	day := ws[1].(map[string]any)
	if day["window"] != "day" || day["used_usd"] != 12.25 || day["limit_usd"] != 20.0 || day["reset_at"] == nil {
		t.Errorf("day window = %v", day)
	}
	if ws[0].(map[string]any)["reset_at"] != nil {
		t.Errorf("zero reset time not null: %v", ws[0])
	}
}

func TestUpdateKey(t *testing.T) {
	hs := newHarness(t)
	hs.send("POST", "/admin/api/keys", map[string]any{"name": "bob", "limit_day_usd": 5, "models": []string{"gpt-*"}}).must(t, 201)
	var got kv.Key
	update := hs.keys.UpdateFn
	hs.keys.UpdateFn = func(ctx context.Context, name string, k kv.Key) error { got = k; return update(ctx, name, k) }
	r := hs.send("PATCH", "/admin/api/keys/bob", map[string]any{"enabled": false}).must(t, 200)
	if got.Enabled || got.LimitDayUSD != 5 || len(got.Models) != 1 || got.RateMultiplier != 1 {
		t.Fatalf("Update got %+v", got)
	}
	if k := r.json(t)["key"].(map[string]any); k["enabled"] != false {
		t.Errorf("answer = %v", k)
	}
	// A past expiry is allowed on update: it expires the key now.
	hs.send("PATCH", "/admin/api/keys/bob", map[string]any{"expires_at": "2020-01-01"}).must(t, 200)
	hs.send("PATCH", "/admin/api/keys/bob", map[string]any{"expires_at": nil}).must(t, 200)
	if !got.ExpiresAt.IsZero() {
		t.Errorf("expires_at null kept %v", got.ExpiresAt)
	}
	if f := hs.send("PATCH", "/admin/api/keys/bob", map[string]any{"name": "carol"}).must(t, 400).errField(t); f != "name" {
		t.Errorf("rename: field %q", f)
	}
	if f := hs.send("PATCH", "/admin/api/keys/bob", map[string]any{"quota_usd": -1}).must(t, 400).errField(t); f != "quota_usd" {
		t.Errorf("negative quota: field %q", f)
	}
	// translate: default true, stored only when off, kept by other edits.
	if got.Translate != nil {
		t.Errorf("default translate stored as %v", *got.Translate)
	}
	hs.send("PATCH", "/admin/api/keys/bob", map[string]any{"translate": false}).must(t, 200)
	r = hs.send("PATCH", "/admin/api/keys/bob", map[string]any{"rpm": 3}).must(t, 200)
	if got.Translates() || r.json(t)["key"].(map[string]any)["translate"] != false {
		t.Errorf("translate off lost: %+v", got)
	}
	hs.send("PATCH", "/admin/api/keys/team", map[string]any{"enabled": false}).must(t, 409)
	hs.send("PATCH", "/admin/api/keys/nobody", map[string]any{"enabled": false}).must(t, 404)
}

func TestDeleteKey(t *testing.T) {
	hs := newHarness(t)
	hs.send("POST", "/admin/api/keys", map[string]any{"name": "bob"}).must(t, 201)
	hs.send("DELETE", "/admin/api/keys/bob", nil).must(t, 200)
	hs.send("DELETE", "/admin/api/keys/bob", nil).must(t, 404)
	hs.send("DELETE", "/admin/api/keys/team", nil).must(t, 409)
}

func TestKeysWithoutManager(t *testing.T) {
	hs := newHarness(t, func(c *Config) { c.Keys = nil })
	hs.send("GET", "/admin/api/keys", nil).must(t, 501)
	hs.send("POST", "/admin/api/keys", map[string]any{"name": "a"}).must(t, 501)
}
