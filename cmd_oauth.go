package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"subgate/kv"
)

// setupTokenLifetime is what `claude setup-token` asks for: one year.
const setupTokenLifetime = 31536000

// oauthFlow is one platform's authorization-code login with PKCE. Start
// builds the URL to open; Finish takes what the user pasted (or what the
// local callback caught), exchanges the code and returns the account's
// credentials. It holds no per-login state, so one flow serves any number
// of logins: the caller keeps state and verifier between the two calls.
type oauthFlow struct {
	platform     string // anthropic | openai | gemini
	kind         string // oauth | setup_token (anthropic only)
	authorizeURL string
	tokenURL     string
	clientID     string
	clientSecret string // Google's installed-app secret; empty elsewhere
	redirectURL  string
	scopes       string
	userAgent    string
	client       *http.Client
}

// newOAuthFlow reads platform's OAuth client values from cfg. kind is
// "oauth", or "setup_token" for a long-lived inference-only Claude token.
func newOAuthFlow(cfg Config, platform, kind string) (*oauthFlow, error) {
	f := &oauthFlow{platform: platform, kind: kind, client: &http.Client{Timeout: 30 * time.Second}}
	var key string
	switch platform {
	case "anthropic":
		up := cfg.Upstreams.Anthropic
		key = "upstreams.anthropic"
		f.authorizeURL, f.tokenURL, f.clientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		f.redirectURL, f.scopes, f.userAgent = up.OAuthRedirectURL, up.OAuthScopes, up.UserAgent
		if kind == "setup_token" {
			f.scopes = "user:inference"
		}
	case "openai":
		up := cfg.Upstreams.OpenAI
		key = "upstreams.openai"
		f.authorizeURL, f.tokenURL, f.clientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		f.redirectURL, f.scopes = up.OAuthRedirectURL, up.OAuthScopes
	case "gemini":
		up := cfg.Upstreams.Gemini
		key = "upstreams.gemini"
		f.authorizeURL, f.tokenURL, f.clientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		f.clientSecret, f.redirectURL, f.scopes = up.OAuthClientSecret, up.OAuthRedirectURL, up.OAuthScopes
	default:
		return nil, fmt.Errorf("oauth: unknown platform %q", platform)
	}
	switch {
	case kind != "oauth" && !(kind == "setup_token" && platform == "anthropic"):
		return nil, fmt.Errorf("oauth: %s accounts have no %q login", platform, kind)
	case f.clientID == "":
		return nil, fmt.Errorf("%s.oauth_client_id is empty", key)
	case f.authorizeURL == "" || f.tokenURL == "" || f.redirectURL == "":
		return nil, fmt.Errorf("%s: oauth_authorize_url, oauth_token_url and oauth_redirect_url are required", key)
	}
	return f, nil
}

// Start returns the authorize URL with a fresh PKCE S256 challenge and
// state, and the state and verifier that Finish needs.
func (f *oauthFlow) Start() (authURL, state, verifier string, err error) {
	verifier, challenge, err := newPKCE()
	if err != nil {
		return "", "", "", err
	}
	if state, err = randomURLString(32); err != nil {
		return "", "", "", err
	}
	q := url.Values{
		"client_id":             {f.clientID},
		"response_type":         {"code"},
		"redirect_uri":          {f.redirectURL},
		"scope":                 {f.scopes},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {state},
	}
	switch f.platform {
	case "anthropic":
		q.Set("code", "true") // the callback page shows code#state to copy
	case "openai":
		q.Set("id_token_add_organizations", "true")
		q.Set("codex_cli_simplified_flow", "true")
	case "gemini":
		q.Set("access_type", "offline") // a refresh token
		q.Set("prompt", "consent")      // a refresh token on every login, not only the first
	}
	authURL, err = withQuery(f.authorizeURL, q)
	if err != nil {
		return "", "", "", err
	}
	return authURL, state, verifier, nil
}

// Finish parses pasted (code#state, the redirected URL, or for Google the
// bare code its page shows), checks the state, exchanges the code and
// returns an account with Platform, Type, tokens, ExpiresAt and what the
// platform tells about the user. Name, group and limits are the caller's.
func (f *oauthFlow) Finish(ctx context.Context, pasted, state, verifier string) (kv.Account, error) {
	code, got, err := f.parse(pasted)
	if err != nil {
		return kv.Account{}, err
	}
	// Google's authcode page shows the code alone: there is no state to
	// check then, and PKCE still binds the code to this login.
	if (got != "" || f.platform != "gemini") && subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
		return kv.Account{}, errors.New("state mismatch: the code belongs to another login attempt; run the login again")
	}
	tok, err := f.exchange(ctx, code, state, verifier)
	if err != nil {
		return kv.Account{}, err
	}
	return f.account(tok, time.Now()), nil
}

func (f *oauthFlow) parse(pasted string) (code, state string, err error) {
	s := strings.TrimSpace(pasted)
	if f.platform == "gemini" && s != "" && !strings.Contains(s, "#") &&
		!strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return s, "", nil
	}
	return parsePastedCode(s)
}

// tokenResponse is a token endpoint's answer; the account and organization
// objects are Anthropic's, id_token OpenAI's and Google's.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Account      struct {
		UUID         string `json:"uuid"`
		EmailAddress string `json:"email_address"`
	} `json:"account"`
}

// exchange performs the authorization_code grant: a JSON body for
// Anthropic, a form for OpenAI and Google (with the client secret).
func (f *oauthFlow) exchange(ctx context.Context, code, state, verifier string) (tokenResponse, error) {
	var body []byte
	ctype := "application/x-www-form-urlencoded"
	if f.platform == "anthropic" {
		req := codeExchange{
			GrantType: "authorization_code", Code: code, RedirectURI: f.redirectURL,
			ClientID: f.clientID, CodeVerifier: verifier, State: state,
		}
		if f.kind == "setup_token" {
			req.ExpiresIn = setupTokenLifetime
		}
		var err error
		if body, err = json.Marshal(req); err != nil {
			return tokenResponse{}, err
		}
		ctype = "application/json"
	} else {
		form := url.Values{
			"grant_type":    {"authorization_code"},
			"code":          {code},
			"redirect_uri":  {f.redirectURL},
			"client_id":     {f.clientID},
			"code_verifier": {verifier},
		}
		if f.clientSecret != "" {
			form.Set("client_secret", f.clientSecret)
		}
		body = []byte(form.Encode())
	}
	return f.post(ctx, body, ctype, code, verifier, f.clientSecret)
}

// codeExchange is Anthropic's JSON body of the authorization_code grant.
type codeExchange struct {
	GrantType    string `json:"grant_type"`
	Code         string `json:"code"`
	RedirectURI  string `json:"redirect_uri"`
	ClientID     string `json:"client_id"`
	CodeVerifier string `json:"code_verifier"`
	State        string `json:"state"`
	ExpiresIn    int    `json:"expires_in,omitempty"`
}

// post sends one token request; secrets are kept out of any error.
func (f *oauthFlow) post(ctx context.Context, body []byte, ctype string, secrets ...string) (tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.tokenURL, bytes.NewReader(body))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	if f.userAgent != "" {
		req.Header.Set("User-Agent", f.userAgent)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token exchange: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token exchange: read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return tokenResponse{}, newOAuthError(resp.StatusCode, data, secrets...)
	}
	var tok tokenResponse
	if err := json.Unmarshal(data, &tok); err != nil || tok.AccessToken == "" {
		// The body may hold tokens: never echo it.
		return tokenResponse{}, fmt.Errorf("token exchange: %d response without an access_token", resp.StatusCode)
	}
	return tok, nil
}

// account turns a token response into the platform's account.
func (f *oauthFlow) account(tok tokenResponse, now time.Time) kv.Account {
	a := kv.Account{
		Platform: f.platform, Type: f.kind,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
	}
	id := parseJWT(tok.IDToken)
	switch f.platform {
	case "anthropic":
		a.Email = tok.Account.EmailAddress
		if f.kind == "setup_token" {
			a.RefreshToken = "" // setup tokens are never refreshed
		}
	case "openai":
		a.IDToken, a.Email, a.AccountID = tok.IDToken, id.Email, id.Auth.ChatGPTAccountID
		if a.AccountID == "" {
			a.AccountID = parseJWT(tok.AccessToken).Auth.ChatGPTAccountID
		}
	case "gemini":
		a.Email = id.Email // only when the openid scope was granted
	}
	if tok.ExpiresIn > 0 {
		a.ExpiresAt = kv.Time{Time: now.Add(time.Duration(tok.ExpiresIn) * time.Second)}
	} else {
		a.ExpiresAt = kv.Time{Time: parseJWT(tok.AccessToken).expiry()}
	}
	return a
}

// jwtClaims are the claims subgate reads from OpenAI and Google tokens.
type jwtClaims struct {
	Email string      `json:"email"`
	Exp   json.Number `json:"exp"`
	Auth  struct {
		ChatGPTAccountID string `json:"chatgpt_account_id"`
	} `json:"https://api.openai.com/auth"`
}

// parseJWT decodes a JWT's payload WITHOUT verifying it: the token comes
// straight from the token endpoint over TLS (or from the user's own file),
// and subgate only reads hints from it. Anything malformed gives zero claims.
func parseJWT(tok string) jwtClaims {
	var c jwtClaims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c
	}
	payload, err := base64URLDecode(parts[1])
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return jwtClaims{}
	}
	return c
}

// expiry is the exp claim; zero when absent.
func (c jwtClaims) expiry() time.Time {
	sec, err := c.Exp.Int64()
	if err != nil || sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// OAuthError is a non-2xx answer of a token endpoint, summarised so that it
// can be shown and logged: no body, no secrets.
type OAuthError struct {
	Status      int
	Code        string // the "error" field, e.g. invalid_grant
	Description string
}

func (e *OAuthError) Error() string {
	s := fmt.Sprintf("token endpoint answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

// newOAuthError reads the standard OAuth shape ({"error":"invalid_grant",
// "error_description":…}), the Anthropic API shape ({"error":{"type",
// "message"}}) and OpenAI's ({"error":{"code","type","message"}}). A
// description that contains one of secrets is dropped.
func newOAuthError(status int, body []byte, secrets ...string) *OAuthError {
	e := &OAuthError{Status: status}
	var doc struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return e
	}
	var obj struct{ Code, Type, Message string }
	if json.Unmarshal(doc.Error, &e.Code) != nil && json.Unmarshal(doc.Error, &obj) == nil {
		e.Code, e.Description = obj.Code, obj.Message
		if e.Code == "" {
			e.Code = obj.Type
		}
	}
	if doc.Description != "" {
		e.Description = doc.Description
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(e.Description, s) {
			e.Description = ""
		}
	}
	e.Code = truncate(e.Code, 64)
	e.Description = truncate(e.Description, 200)
	return e
}

// base64URLDecode decodes base64url with or without padding.
func base64URLDecode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
