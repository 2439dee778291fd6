package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy"
	"subgate/proxy/oauth"
	"subgate/proxy/upstreamtest"
	"subgate/webui"
)

// The guards of the webui.Accounts and webui.Keys contracts that the
// webui checks before it calls (so the HTTP tests cannot reach them), and
// that still hold when two admin requests race past those checks: called
// directly on the admin serve wires, with its real kv, proxy and ledger.

// newDirectAdmin wires an admin as serve does, on the config of
// writeServeConfig (config account a1 and a2, config key alice).
func newDirectAdmin(t *testing.T, o serveOpts) (*webui.Admin, *kv.DB, *upstreamtest.Server) {
	t.Helper()
	up := startMock(t, upstreamtest.Config{})
	cfg, err := LoadConfig(writeServeConfig(t, t.TempDir(), freeAddr(t), up.URL(), o))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := kv.Open(dbPath(cfg), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	led := ledger.New(ledger.Config{Store: db})
	t.Cleanup(led.Close)
	an := cfg.Upstreams.Anthropic
	tokens := oauth.NewTokens(oauth.TokensConfig{Store: db, Endpoints: map[string]oauth.Endpoint{
		"anthropic": {TokenURL: an.OAuthTokenURL, ClientID: an.OAuthClientID}}})
	gw := &gateway{tokens: tokens}
	adm := webui.NewAdmin(webui.AdminConfig{Store: db, Accounts: cfg.Accounts, Keys: cfg.keyModels(),
		Gateway: gw, Usage: led, Logger: slog.New(slog.DiscardHandler),
		Flow: func(platform, kind string) (*oauth.Flow, error) { return newOAuthFlow(cfg, platform, kind) }})
	models, keyModels, err := adm.Pool()
	if err != nil {
		t.Fatal(err)
	}
	accounts, keys, err := proxyPool(models, keyModels, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw.srv = proxy.New(proxy.Config{Accounts: accounts, Keys: keys, Tokens: tokens, Ledger: led, AnthropicBaseURL: an.BaseURL})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.srv.Shutdown(ctx)
	})
	return adm, db, up
}

// errKind names what an error is, for table comparisons.
func errKind(err error) string {
	var fe *webui.FieldError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &fe):
		return "field " + fe.Field
	case errors.Is(err, webui.ErrNotFound):
		return "not found"
	case errors.Is(err, webui.ErrReadOnly):
		return "read-only"
	case errors.Is(err, webui.ErrExists):
		return "exists"
	}
	return "error: " + err.Error()
}

func TestAdminAccountsContract(t *testing.T) {
	adm, db, _ := newDirectAdmin(t, serveOpts{})
	ctx := context.Background()
	api := func(name string) kv.Account {
		return kv.Account{Name: name, Platform: "anthropic", Type: "api_key", APIKey: "sk-ant-api03-x"}
	}
	if err := adm.Add(ctx, api("stored")); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*kv.Account)) kv.Account { n := api("new"); f(&n); return n }
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"add without name", adm.Add(ctx, api("")), "field name"},
		{"add unknown platform", adm.Add(ctx, with(func(n *kv.Account) { n.Platform = "cursor" })), "field platform"},
		{"add unknown type", adm.Add(ctx, with(func(n *kv.Account) { n.Type = "cookie" })), "field type"},
		{"add api_key without key", adm.Add(ctx, with(func(n *kv.Account) { n.APIKey = "" })), "field api_key"},
		{"add setup_token without token", adm.Add(ctx, with(func(n *kv.Account) { n.Type = "setup_token" })), "field access_token"},
		{"add setup_token for openai", adm.Add(ctx, with(func(n *kv.Account) {
			n.Type, n.Platform, n.AccessToken = "setup_token", "openai", "t"
		})), "field type"},
		{"add ftp base_url", adm.Add(ctx, with(func(n *kv.Account) { n.BaseURL = "ftp://h" })), "field base_url"},
		{"add negative concurrency", adm.Add(ctx, with(func(n *kv.Account) { n.Concurrency = -1 })), "field concurrency"},
		{"add ftp proxy", adm.Add(ctx, with(func(n *kv.Account) { n.Proxy = "ftp://h:1" })), "field proxy"},
		{"add proxy without host", adm.Add(ctx, with(func(n *kv.Account) { n.Proxy = "http://" })), "field proxy"},
		{"add config name", adm.Add(ctx, api("a1")), "exists"},
		{"add stored name", adm.Add(ctx, api("stored")), "exists"},
		{"update config account", adm.Update(ctx, "a1", api("a1")), "read-only"},
		{"update unknown", adm.Update(ctx, "nobody", api("nobody")), "not found"},
		{"update invalid", adm.Update(ctx, "stored", with(func(n *kv.Account) { n.Concurrency = -1 })), "field concurrency"},
		{"delete config account", adm.Delete(ctx, "a1"), "read-only"},
		{"delete unknown", adm.Delete(ctx, "nobody"), "not found"},
		{"refresh unknown", adm.RefreshNow(ctx, "nobody"), "not found"},
	} {
		if got := errKind(tt.err); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := adm.OAuthStart("cursor", "oauth"); errKind(err) != "field platform" {
		t.Errorf("OAuthStart(cursor) = %v, want a platform field error", err)
	}
	if _, err := adm.Test(ctx, "nobody"); !errors.Is(err, webui.ErrNotFound) {
		t.Errorf("Test(nobody) = %v, want ErrNotFound", err)
	}
	// The refused calls changed nothing: the pool is a1, a2 and stored.
	var names []string
	for _, a := range adm.List() {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); got != "a1,a2,stored" {
		t.Errorf("accounts after refused calls: %s", got)
	}
	// List itself keeps a proxy password out of what it hands the UI.
	proxied := api("proxied")
	proxied.Group, proxied.Proxy = "spare", "socks5://user:pa55word@127.0.0.1:9"
	if err := adm.Add(ctx, proxied); err != nil {
		t.Fatal(err)
	}
	for _, a := range adm.List() {
		if a.Name == "proxied" && a.Proxy != "socks5://user:xxxxx@127.0.0.1:9" {
			t.Errorf("List shows proxy %q", a.Proxy)
		}
	}
	// An edit made from the listing (the UI pre-fills its form with it)
	// sends the redacted proxy back: the stored password must survive.
	for _, a := range adm.List() {
		if a.Name == "proxied" {
			a.Priority = 7
			if err := adm.Update(ctx, "proxied", a); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, err := db.GetAccount("proxied"); err != nil || got.Proxy != "socks5://user:pa55word@127.0.0.1:9" || got.Priority != 7 {
		t.Errorf("after an edit from the listing: proxy %q priority %d (%v), want the stored password kept", got.Proxy, got.Priority, err)
	}
}

func TestAdminKeysContract(t *testing.T) {
	adm, _, _ := newDirectAdmin(t, serveOpts{})
	keys, ctx := adm.Keys(), context.Background()
	if _, err := keys.Create(ctx, kv.Key{Name: "stored", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	create := func(n kv.Key) error { _, err := keys.Create(ctx, n); return err }
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"create without name", create(kv.Key{}), "field name"},
		{"create negative concurrency", create(kv.Key{Name: "k", Concurrency: -1}), "field concurrency"},
		{"create negative rpm", create(kv.Key{Name: "k", RPM: -1}), "field rpm"},
		{"create negative 5h limit", create(kv.Key{Name: "k", Limit5hUSD: -1}), "field limit_5h_usd"},
		{"create negative quota", create(kv.Key{Name: "k", QuotaUSD: -1}), "field quota_usd"},
		{"create negative multiplier", create(kv.Key{Name: "k", RateMultiplier: -1}), "field rate_multiplier"},
		{"create bad allow_ips", create(kv.Key{Name: "k", AllowIPs: []string{"not-an-ip"}}), "field allow_ips"},
		{"create config name", create(kv.Key{Name: "alice"}), "exists"},
		{"create stored name", create(kv.Key{Name: "stored"}), "exists"},
		{"update config key", keys.Update(ctx, "alice", kv.Key{Name: "alice"}), "read-only"},
		{"update unknown", keys.Update(ctx, "nobody", kv.Key{Name: "nobody"}), "not found"},
		{"update invalid", keys.Update(ctx, "stored", kv.Key{Name: "stored", RPM: -1}), "field rpm"},
		{"delete config key", keys.Delete(ctx, "alice"), "read-only"},
		{"delete unknown", keys.Delete(ctx, "nobody"), "not found"},
	} {
		if got := errKind(tt.err); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	var names []string
	for _, k := range keys.List() {
		names = append(names, k.Name+"/"+source(k.FromConfig))
	}
	if got := strings.Join(names, ","); got != "alice/config,stored/ui" {
		t.Errorf("keys after refused calls: %s", got)
	}
}

// TestAdminOAuthFinishContract: a login finished without a name gets one
// made from its platform, type and token; a name taken meanwhile is
// refused after the exchange. (That abandoned logins are forgotten is
// oauth.Pending's, tested there.)
func TestAdminOAuthFinishContract(t *testing.T) {
	adm, db, up := newDirectAdmin(t, serveOpts{})
	ctx := context.Background()
	finish := func(code, name string) (string, error) {
		t.Helper()
		st, err := adm.OAuthStart("anthropic", "oauth")
		if err != nil {
			t.Fatal(err)
		}
		up.AddAuthCode(code)
		return adm.OAuthFinish(ctx, st.State, code+"#"+st.State, kv.Account{Name: name})
	}
	name, err := finish("code-1", "")
	if err != nil || !regexp.MustCompile(`^anthropic-oauth-[0-9a-f]{6}$`).MatchString(name) {
		t.Fatalf("finish without a name = %q, %v; want anthropic-oauth-<6 hex>", name, err)
	}
	a, err := db.GetAccount(name)
	if err != nil || a.Type != "oauth" || a.Group != "default" || a.Concurrency != kv.DefaultConcurrency ||
		!strings.HasPrefix(a.AccessToken, "sk-ant-oat01-") || a.RefreshToken == "" {
		t.Errorf("stored login: %+v, %v", a, err)
	}
	for _, taken := range []string{name, "a1"} {
		if _, err := finish("code-"+taken, taken); !errors.Is(err, webui.ErrExists) {
			t.Errorf("finish as the taken name %s = %v, want ErrExists", taken, err)
		}
	}

}

// TestAdminStoreFailure: with the store gone, every change reports the
// failure instead of claiming success, and listings degrade to what the
// config holds.
func TestAdminStoreFailure(t *testing.T) {
	adm, db, _ := newDirectAdmin(t, serveOpts{})
	ctx := context.Background()
	keys := adm.Keys()
	if err := adm.Add(ctx, kv.Account{Name: "stored", Platform: "anthropic", Type: "api_key", APIKey: "k"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, createErr := keys.Create(ctx, kv.Key{Name: "k"})
	setup := kv.Account{Name: "stored", Platform: "anthropic", Type: "setup_token", AccessToken: "t"}
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"add", adm.Add(ctx, kv.Account{Name: "new", Platform: "anthropic", Type: "api_key", APIKey: "k"})},
		{"update", adm.Update(ctx, "stored", setup)},
		{"delete", adm.Delete(ctx, "stored")},
		{"refresh", adm.RefreshNow(ctx, "a1")},
		{"create key", createErr},
		{"update key", keys.Update(ctx, "k", kv.Key{Name: "k"})},
		{"delete key", keys.Delete(ctx, "k")},
	} {
		if got := errKind(tt.err); !strings.HasPrefix(got, "error: ") {
			t.Errorf("%s with the store closed: %s, want the store's error", tt.name, got)
		}
	}
	if got := adm.List(); got != nil {
		t.Errorf("List with the store closed = %v, want nil", got)
	}
	if got := keys.List(); len(got) != 1 || got[0].Name != "alice" {
		t.Errorf("key List with the store closed = %v, want the config key alone", got)
	}
}

// source is how the admin API names where a key comes from.
func source(fromConfig bool) string {
	if fromConfig {
		return "config"
	}
	return "ui"
}
