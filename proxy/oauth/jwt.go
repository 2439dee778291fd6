package oauth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Claims are the claims subgate reads from OpenAI and Google tokens.
type Claims struct {
	Email string      `json:"email"`
	Exp   json.Number `json:"exp"`
	Auth  struct {
		ChatGPTAccountID string `json:"chatgpt_account_id"`
	} `json:"https://api.openai.com/auth"`
}

// ParseJWT decodes a JWT's payload WITHOUT verifying it: the token comes
// straight from the token endpoint over TLS (or from the user's own
// file), and subgate only reads hints from it. Anything malformed gives
// zero claims. The payload may be padded base64url or not.
func ParseJWT(tok string) Claims {
	var c Claims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return Claims{}
	}
	return c
}

// Expiry is the exp claim; zero when absent.
func (c Claims) Expiry() time.Time {
	sec, err := c.Exp.Int64()
	if err != nil || sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
