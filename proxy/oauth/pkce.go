package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// newPKCE returns an RFC 7636 S256 pair: a verifier of 32 random bytes in
// unpadded base64url, and the base64url sha256 of it.
func newPKCE() (verifier, challenge string, err error) {
	verifier, err = randomURLString(32)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// randomURLString returns n random bytes in unpadded base64url.
func randomURLString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// parsePastedCode accepts what a user pastes after authorizing: "code#state"
// as shown by the callback page, or the whole callback URL with code= and
// state= in its query (or fragment).
func parsePastedCode(s string) (code, state string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", errors.New("no code entered")
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", errors.New("the pasted callback URL does not parse")
		}
		q := u.Query()
		if q.Get("code") == "" && u.Fragment != "" {
			q, _ = url.ParseQuery(u.Fragment)
		}
		code, state = q.Get("code"), q.Get("state")
		if code == "" || state == "" {
			if e := q.Get("error"); e != "" {
				return "", "", fmt.Errorf("authorization refused: %s", truncate(e, 64))
			}
			return "", "", errors.New("the pasted callback URL lacks code= or state=")
		}
		return code, state, nil
	}
	code, state, ok := strings.Cut(s, "#")
	if !ok || code == "" || state == "" {
		return "", "", errors.New("paste the whole code#state shown by the page")
	}
	return code, state, nil
}

// withQuery adds params to the query of base.
func withQuery(base string, params url.Values) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("authorize URL: %w", err)
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
