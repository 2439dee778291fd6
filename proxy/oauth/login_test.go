package oauth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const (
	testOAIAccess   = "oai-at-12345SECRETaccessSECRETaccessSECRET"
	testChatGPTAcct = "acct-1234"
)

// testJWT returns an unsigned JWT with claims as its payload.
func testJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(b) + "." + enc([]byte("sig"))
}

// openAIIDToken is an id_token shaped like auth.openai.com's.
func openAIIDToken(t *testing.T) string {
	return testJWT(t, map[string]any{
		"email": "coder@example.com",
		"https://api.openai.com/auth": map[string]any{
			"chatgpt_account_id": testChatGPTAcct, "chatgpt_plan_type": "plus",
		},
	})
}

func TestOAuthFinishOpenAIExpiryFromJWT(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	access := testJWT(t, map[string]any{"exp": exp.Unix(),
		"https://api.openai.com/auth": map[string]any{"chatgpt_account_id": "from-access"}})
	f := &Flow{cfg: FlowConfig{Platform: "openai", Kind: "oauth"}}
	a := f.account(tokenResponse{AccessToken: access}, time.Now())
	if !a.ExpiresAt.Equal(exp) || a.AccountID != "from-access" {
		t.Errorf("account = %+v, want expiry %v and account from the access token", a, exp)
	}
}

func TestNewEndpointError(t *testing.T) {
	for _, tt := range []struct {
		body string
		want string
	}{
		{`{"error":"invalid_grant","error_description":"Code expired"}`, "400 Bad Request: invalid_grant (Code expired)"},
		{`{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`, "400 Bad Request: invalid_request_error (bad)"},
		{`<html>blocked</html>`, "400 Bad Request"},
		{`{"error":"invalid_grant","error_description":"verifier SECRET mismatch"}`, "400 Bad Request: invalid_grant"},
		{`{"error":{"message":"Invalid authorization code","type":"invalid_request_error","code":"token_expired"}}`, "400 Bad Request: token_expired (Invalid authorization code)"},
	} {
		got := newEndpointError(400, []byte(tt.body), "SECRET").Error()
		if !strings.HasSuffix(got, tt.want) || strings.Contains(got, "SECRET") || strings.Contains(got, "html") {
			t.Errorf("newEndpointError(%s) = %q, want suffix %q", tt.body, got, tt.want)
		}
	}
}
