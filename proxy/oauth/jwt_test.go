package oauth

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseJWT(t *testing.T) {
	tok := openAIIDToken(t)
	if c := ParseJWT(tok); c.Email != "coder@example.com" || c.Auth.ChatGPTAccountID != testChatGPTAcct {
		t.Errorf("parseJWT = %+v", c)
	}
	// Padded base64url payloads are accepted too.
	parts := strings.Split(tok, ".")
	if pad := len(parts[1]) % 4; pad != 0 {
		parts[1] += strings.Repeat("=", 4-pad)
	}
	if c := ParseJWT(strings.Join(parts, ".")); c.Email != "coder@example.com" {
		t.Errorf("padded payload: %+v", c)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".c", testOAIAccess} {
		if c := ParseJWT(bad); c.Email != "" || !c.Expiry().IsZero() {
			t.Errorf("ParseJWT(%q) = %+v, want zero", bad, c)
		}
	}
}
