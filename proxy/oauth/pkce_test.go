package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestParsePastedCode(t *testing.T) {
	for _, tt := range []struct {
		in, code, state string
		ok              bool
	}{
		{"abc#xyz", "abc", "xyz", true},
		{"  abc#xyz\r\n", "abc", "xyz", true},
		{"https://platform.claude.com/oauth/code/callback?code=abc&state=xyz", "abc", "xyz", true},
		{"http://localhost:1455/auth/callback#code=abc&state=xyz", "abc", "xyz", true},
		{"abc", "", "", false},
		{"#xyz", "", "", false},
		{"abc#", "", "", false},
		{"", "", "", false},
		{"https://example.com/cb?code=abc", "", "", false},
	} {
		code, state, err := parsePastedCode(tt.in)
		if (err == nil) != tt.ok || code != tt.code || state != tt.state {
			t.Errorf("parsePastedCode(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.in, code, state, err, tt.code, tt.state, tt.ok)
		}
	}
}

func TestNewPKCE(t *testing.T) {
	v, c, err := newPKCE()
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 43 || strings.ContainsAny(v, "+/=") {
		t.Errorf("verifier %q: want 43 unpadded base64url characters", v)
	}
	sum := sha256.Sum256([]byte(v))
	if got, want := c, base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("challenge = %s, want %s", got, want)
	}
	v2, _, _ := newPKCE()
	if v2 == v {
		t.Errorf("two verifiers are equal")
	}
}
