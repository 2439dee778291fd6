package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"subgate/kv"
	"subgate/proxy/oauth"
	"subgate/proxy/upstreamtest"
)

func TestKeyNew(t *testing.T) {
	var out bytes.Buffer
	if err := cmdKeyNew([]string{"alice", "--group", "team"}, &out); err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`sk-sg-[0-9A-Za-z]{48}\b`).FindString(out.String())
	if key == "" {
		t.Fatalf("no sk-sg- key of 48 base62 characters in:\n%s", out.String())
	}
	i := strings.Index(out.String(), "[[keys]]")
	j := strings.Index(out.String(), "\nAlternatively")
	if i < 0 || j < i {
		t.Fatalf("no [[keys]] block in:\n%s", out.String())
	}
	var doc struct{ Keys []KeyConfig }
	md, err := toml.Decode(out.String()[i:j], &doc)
	if err != nil {
		t.Fatalf("block does not decode: %v\n%s", err, out.String()[i:j])
	}
	if len(md.Undecoded()) > 0 || len(doc.Keys) != 1 {
		t.Fatalf("block = %+v, undecoded %v", doc, md.Undecoded())
	}
	k := doc.Keys[0]
	sum := sha256.Sum256([]byte(key))
	if got, want := k.Hash, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("key_sha256 = %s, want sha256 of the printed key %s", got, want)
	}
	if k.Name != "alice" || k.Group != "team" || k.Secret != "" {
		t.Errorf("block = %+v, want name alice, group team, no clear key", k)
	}

	var again bytes.Buffer
	if err := cmdKeyNew([]string{"bob"}, &again); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(again.String(), key) {
		t.Errorf("two calls printed the same key")
	}
	if !strings.Contains(again.String(), `group = "default"`) {
		t.Errorf("default group missing:\n%s", again.String())
	}
}

func TestKeyNewUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"a", "b"}, {"--group"}, {"--bogus", "a"}} {
		err := cmdKeyNew(args, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("cmdKeyNew(%q) = %v, want a usage error", args, err)
		}
	}
}

// testConfig returns defaults with data_dir in a fresh temp dir (not yet
// created, as on a first run).
func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	return cfg
}

// openTestDB opens the kv file the commands wrote; call it after they return.
func openTestDB(t *testing.T, cfg Config) *kv.DB {
	t.Helper()
	db, err := kv.Open(dbPath(cfg), kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

const (
	testAccess  = "sk-ant-oat01-ACCESSsecretACCESSsecretACCESSsecret"
	testRefresh = "sk-ant-ort01-REFRESHsecretREFRESHsecretREFRESHsecret"
)

func writeCredentials(t *testing.T, scopes []string) string {
	t.Helper()
	doc := map[string]any{"claudeAiOauth": map[string]any{
		"accessToken":      testAccess,
		"refreshToken":     testRefresh,
		"expiresAt":        int64(1767225600000), // 2026-01-01T00:00:00Z
		"scopes":           scopes,
		"subscriptionType": "max",
	}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), ".credentials.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportClaude(t *testing.T) {
	cfg := testConfig(t)
	file := writeCredentials(t, []string{"user:inference", "user:profile"})
	var out bytes.Buffer
	if err := cmdImport(context.Background(), cfg, []string{"claude", file, "--priority", "0"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := cmdImport(context.Background(), cfg, []string{"claude", "--group", "team", file}, &out); err != nil {
		t.Fatal(err)
	}
	err := cmdImport(context.Background(), cfg, []string{"claude", file, "--name", "claude-max-1"}, &out)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("import under a taken name = %v, want an already-exists error", err)
	}
	for _, secret := range []string{testAccess, testRefresh, "ACCESSsecret", "REFRESHsecret"} {
		if strings.Contains(out.String(), secret) {
			t.Fatalf("output leaks %q:\n%s", secret, out.String())
		}
	}
	for _, want := range []string{`"claude-max-1"`, `"claude-max-2"`, "sk-ant-oat01…"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	fi, err := os.Stat(cfg.Server.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", got)
	}

	db := openTestDB(t, cfg)
	a, err := db.GetAccount("claude-max-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Platform != "anthropic" || a.Type != "oauth" || a.AccessToken != testAccess || a.RefreshToken != testRefresh {
		t.Errorf("account = %+v", a)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !a.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", a.ExpiresAt, want)
	}
	if a.Concurrency != 3 || a.Priority != 0 || a.Group != "default" {
		t.Errorf("concurrency %d priority %d group %q, want 3 0 default", a.Concurrency, a.Priority, a.Group)
	}
	b, err := db.GetAccount("claude-max-2")
	if err != nil {
		t.Fatal(err)
	}
	if b.Group != "team" || b.Priority != 10 {
		t.Errorf("second import group %q priority %d, want team 10", b.Group, b.Priority)
	}
}

func TestImportClaudeRejects(t *testing.T) {
	cfg := testConfig(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no scope", []string{"claude", writeCredentials(t, []string{"user:profile"})}, "user:inference"},
		{"missing file", []string{"claude", filepath.Join(t.TempDir(), "none.json")}, "read credentials"},
		{"unknown", []string{"cursor"}, "unknown platform"},
		{"no platform", nil, "usage"},
	}
	for _, tt := range tests {
		err := cmdImport(context.Background(), cfg, tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: cmdImport = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"other":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmdImport(context.Background(), cfg, []string{"claude", bad}, io.Discard); err == nil {
		t.Errorf("import of a file without claudeAiOauth succeeded")
	}
}

// runLogin runs cmdLogin, waits for the authorize URL it prints (the URL
// with a code_challenge) and answers with paste(url) on stdin; an empty
// answer writes nothing.
func runLogin(t *testing.T, cfg Config, args []string, paste func(*url.URL) string) (string, error) {
	t.Helper()
	stdinR, stdinW := io.Pipe()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- cmdLogin(context.Background(), cfg, args, stdinR, &out) }()
	defer stdinW.Close()
	re := regexp.MustCompile(`https?://\S+\?\S*code_challenge=\S+`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-done:
			return out.String(), err
		default:
		}
		if raw := re.FindString(out.String()); raw != "" {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if p := paste(u); p != "" {
				if _, err := io.WriteString(stdinW, p+"\n"); err != nil {
					t.Fatal(err)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no authorize URL printed:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(10 * time.Second):
		t.Fatal("cmdLogin did not return")
		return "", nil
	}
}

// tokenRequests returns the JSON bodies of the requests the mock's Claude
// token endpoint got, each with its User-Agent under "_ua".
func tokenRequests(t *testing.T, up *upstreamtest.Server) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range up.Requests() {
		if r.Path != "/v1/oauth/token" {
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("token request body %q: %v", r.Body, err)
		}
		body["_ua"] = r.Header["user-agent"]
		out = append(out, body)
	}
	return out
}

// TestLoginClaude logs in against the mock's Claude token endpoint: the
// authorize URL, the code exchange with its PKCE verifier, and the stored
// account of each kind.
func TestLoginClaude(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		typ     string
		scope   string
		refresh bool
		expires time.Duration
	}{
		{"oauth", []string{"claude"}, "oauth", DefaultConfig().Upstreams.Anthropic.OAuthScopes, true, time.Hour},
		{"setup token", []string{"claude", "--setup-token", "--name", "ci"}, "setup_token", "user:inference", false, 365 * 24 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up := startMock(t, upstreamtest.Config{})
			cfg := testConfig(t)
			cfg.Upstreams.Anthropic.OAuthTokenURL = up.URL() + "/v1/oauth/token"
			var authURL *url.URL
			out, err := runLogin(t, cfg, tt.args, func(u *url.URL) string {
				authURL = u
				up.AddAuthCode("the-code")
				return "the-code#" + u.Query().Get("state")
			})
			if err != nil {
				t.Fatalf("cmdLogin: %v\n%s", err, out)
			}
			up0 := cfg.Upstreams.Anthropic
			q := authURL.Query()
			for k, want := range map[string]string{
				"code": "true", "client_id": up0.OAuthClientID, "response_type": "code",
				"redirect_uri": up0.OAuthRedirectURL, "scope": tt.scope, "code_challenge_method": "S256",
			} {
				if got := q.Get(k); got != want {
					t.Errorf("authorize %s = %q, want %q", k, got, want)
				}
			}
			reqs := tokenRequests(t, up)
			if len(reqs) != 1 {
				t.Fatalf("%d token requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r["grant_type"] != "authorization_code" || r["client_id"] != up0.OAuthClientID || r["code"] != "the-code" ||
				r["redirect_uri"] != up0.OAuthRedirectURL || r["state"] != q.Get("state") || r["_ua"] != up0.UserAgent {
				t.Errorf("token request = %v", r)
			}
			verifier, _ := r["code_verifier"].(string)
			sum := sha256.Sum256([]byte(verifier))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
				t.Errorf("code_verifier %q does not match the URL's code_challenge", verifier)
			}
			if exp, _ := r["expires_in"].(float64); (tt.typ == "setup_token") != (exp == 31536000) {
				t.Errorf("expires_in = %v for %s", r["expires_in"], tt.typ)
			}

			db := openTestDB(t, cfg)
			accts, err := db.Accounts()
			if err != nil || len(accts) != 1 {
				t.Fatalf("Accounts() = %v, %v; want one", accts, err)
			}
			a := accts[0]
			if a.Type != tt.typ || !strings.HasPrefix(a.AccessToken, "sk-ant-oat01-") || (a.RefreshToken != "") != tt.refresh ||
				a.Email != "mock@example.com" || a.Platform != "anthropic" {
				t.Errorf("account = %+v", a)
			}
			if d := time.Until(a.ExpiresAt.Time); d < tt.expires-time.Minute || d > tt.expires {
				t.Errorf("ExpiresAt in %v, want about %v", d, tt.expires)
			}
			for _, secret := range []string{a.AccessToken, a.RefreshToken, verifier} {
				if secret != "" && strings.Contains(out, secret) {
					t.Errorf("output leaks %q", secret)
				}
			}
			if !strings.Contains(out, `"`+a.Name+`"`) {
				t.Errorf("output lacks the account name %q:\n%s", a.Name, out)
			}
		})
	}
}

func TestLoginClaudeWrongState(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	cfg := testConfig(t)
	cfg.Upstreams.Anthropic.OAuthTokenURL = up.URL() + "/v1/oauth/token"
	up.AddAuthCode("the-code")
	_, err := runLogin(t, cfg, []string{"claude"}, func(u *url.URL) string { return "the-code#not-the-state" })
	if err == nil || !strings.Contains(err.Error(), "state") {
		t.Fatalf("cmdLogin = %v, want a state mismatch error", err)
	}
	if n := up.TokenRequests(); n != 0 {
		t.Errorf("%d token requests after a state mismatch, want 0", n)
	}
}

// TestLoginClaudeTokenError: the token endpoint refuses the code (the mock
// was never told of it).
func TestLoginClaudeTokenError(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	cfg := testConfig(t)
	cfg.Upstreams.Anthropic.OAuthTokenURL = up.URL() + "/v1/oauth/token"
	_, err := runLogin(t, cfg, []string{"claude"}, func(u *url.URL) string {
		return "https://platform.claude.com/oauth/code/callback?code=the-code&state=" + u.Query().Get("state")
	})
	var oe *oauth.EndpointError
	if !errors.As(err, &oe) || oe.Status != 400 || oe.Code != "invalid_grant" {
		t.Fatalf("cmdLogin = %v, want an EndpointError 400 invalid_grant", err)
	}
	if strings.Contains(err.Error(), "the-code") {
		t.Errorf("error echoes the code: %v", err)
	}
	db := openTestDB(t, cfg)
	if accts, _ := db.Accounts(); len(accts) != 0 {
		t.Errorf("accounts stored after a failed exchange: %v", accts)
	}
}
