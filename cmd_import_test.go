package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeJSON writes doc to a temp file and returns its path.
func writeJSON(t *testing.T, name string, doc any) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportCodexOAuth(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	access := testJWT(t, map[string]any{"exp": exp.Unix(), "SECRET": "x"})
	for _, tt := range []struct {
		name      string
		accountID string // tokens.account_id; empty: from the id_token
	}{
		{"account id in file", "acct-from-file"},
		{"account id from id_token", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			file := writeJSON(t, "auth.json", map[string]any{
				"auth_mode":      "chatgpt",
				"OPENAI_API_KEY": nil,
				"tokens": map[string]any{
					"id_token": openAIIDToken(t), "access_token": access,
					"refresh_token": testOAIRefresh, "account_id": tt.accountID,
				},
				"last_refresh": "2025-06-01T00:00:00Z",
			})
			var out bytes.Buffer
			if err := cmdImport(context.Background(), cfg, []string{"codex", file, "--group", "team"}, &out); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), "SECRET") || strings.Contains(out.String(), access) {
				t.Errorf("output leaks a token:\n%s", out.String())
			}
			if !strings.Contains(out.String(), `"codex-oauth-1"`) || !strings.Contains(out.String(), "eyJ") {
				t.Errorf("output lacks name or token prefix:\n%s", out.String())
			}
			db := openTestDB(t, cfg)
			a, err := db.GetAccount("codex-oauth-1")
			if err != nil {
				t.Fatal(err)
			}
			wantID := tt.accountID
			if wantID == "" {
				wantID = testChatGPTAcct
			}
			if a.Platform != "openai" || a.Type != "oauth" || a.AccessToken != access || a.RefreshToken != testOAIRefresh ||
				a.IDToken == "" || a.AccountID != wantID || a.Email != "coder@example.com" || a.Group != "team" {
				t.Errorf("account = %+v", a)
			}
			if !a.ExpiresAt.Equal(exp) {
				t.Errorf("ExpiresAt = %v, want %v (the access token's exp)", a.ExpiresAt, exp)
			}
		})
	}
}

func TestImportCodexAPIKey(t *testing.T) {
	const key = "sk-proj-abcdSECRETkeySECRETkeySECRETkey"
	for _, doc := range []map[string]any{
		{"OPENAI_API_KEY": key},
		{"auth_mode": "apikey", "OPENAI_API_KEY": key, "tokens": map[string]any{"access_token": "stale", "refresh_token": "stale"}},
	} {
		cfg := testConfig(t)
		var out bytes.Buffer
		if err := cmdImport(context.Background(), cfg, []string{"codex", writeJSON(t, "auth.json", doc)}, &out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "SECRET") {
			t.Errorf("output leaks the key:\n%s", out.String())
		}
		db := openTestDB(t, cfg)
		accts, err := db.Accounts()
		if err != nil || len(accts) != 1 {
			t.Fatalf("Accounts() = %v, %v", accts, err)
		}
		a := accts[0]
		if a.Platform != "openai" || a.Type != "api_key" || a.APIKey != key || a.AccessToken != "" || a.RefreshToken != "" {
			t.Errorf("account = %+v", a)
		}
		if !strings.Contains(out.String(), `"`+a.Name+`"`) || !strings.HasPrefix(a.Name, "codex-apikey-") {
			t.Errorf("name %q, output:\n%s", a.Name, out.String())
		}
	}
}

func TestImportGemini(t *testing.T) {
	cfg := testConfig(t)
	file := writeJSON(t, "oauth_creds.json", map[string]any{
		"access_token":  testGoogleAccess,
		"refresh_token": testGoogleRT,
		"expiry_date":   int64(1767225600000), // 2026-01-01T00:00:00Z
		"token_type":    "Bearer",
		"scope":         "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email openid",
		"id_token":      testJWT(t, map[string]any{"email": "g@example.com"}),
	})
	var out bytes.Buffer
	for range 2 {
		if err := cmdImport(context.Background(), cfg, []string{"gemini", file}, &out); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Errorf("output leaks a token:\n%s", out.String())
	}
	for _, want := range []string{`"gemini-oauth-1"`, `"gemini-oauth-2"`, "ya29."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	db := openTestDB(t, cfg)
	a, err := db.GetAccount("gemini-oauth-1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Platform != "gemini" || a.Type != "oauth" || a.AccessToken != testGoogleAccess ||
		a.RefreshToken != testGoogleRT || a.Email != "g@example.com" || a.Concurrency != 3 {
		t.Errorf("account = %+v", a)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); !a.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", a.ExpiresAt, want)
	}
}

func TestImportCodexGeminiRejects(t *testing.T) {
	cfg := testConfig(t)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"codex empty", []string{"codex", writeJSON(t, "a.json", map[string]any{"auth_mode": "chatgpt"})}, "neither a ChatGPT login nor OPENAI_API_KEY"},
		{"codex not json", []string{"codex", writeJSON(t, "a.json", "text")}, "not a Codex auth file"},
		{"codex missing", []string{"codex", filepath.Join(t.TempDir(), "none.json")}, "codex login"},
		{"gemini empty", []string{"gemini", writeJSON(t, "g.json", map[string]any{"token_type": "Bearer"})}, "neither access_token nor refresh_token"},
		{"gemini scope", []string{"gemini", writeJSON(t, "g.json", map[string]any{"refresh_token": "r", "scope": "openid"})}, "cloud-platform"},
		{"gemini missing", []string{"gemini", filepath.Join(t.TempDir(), "none.json")}, "read credentials"},
		{"two files", []string{"gemini", "a", "b"}, "usage"},
	} {
		err := cmdImport(context.Background(), cfg, tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: cmdImport = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := os.Stat(dbPath(cfg)); err == nil {
		db := openTestDB(t, cfg)
		if accts, _ := db.Accounts(); len(accts) != 0 {
			t.Errorf("accounts stored by failed imports: %v", accts)
		}
	}
}
