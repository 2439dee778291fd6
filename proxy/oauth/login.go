package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"subgate/kv"
)

// setupTokenLifetime is what `claude setup-token` asks for: one year.
const setupTokenLifetime = 31536000

// setupTokenScope is the one scope of a Claude setup-token.
const setupTokenScope = "user:inference"

// FlowConfig is one platform's OAuth client, as its own CLI registers it
// (subgate reads the values from [upstreams]).
type FlowConfig struct {
	Platform     string // anthropic | openai | gemini
	Kind         string // oauth, or setup_token (anthropic only)
	AuthorizeURL string
	TokenURL     string
	ClientID     string
	ClientSecret string // Google's installed-app secret; empty elsewhere
	RedirectURL  string
	Scopes       string // ignored for a setup_token: user:inference
	UserAgent    string // on token requests; empty sends Go's
	// HTTP makes the token requests; nil is a client with a 30 s timeout.
	HTTP *http.Client
}

// Flow is one platform's authorization-code login with PKCE. Start
// builds the URL to open; Finish takes what the user pasted (or what a
// local callback caught), exchanges the code and returns the account's
// credentials. It holds no per-login state, so one flow serves any
// number of logins: the caller keeps state and verifier between the two
// calls (Pending does for the web UI).
type Flow struct {
	cfg FlowConfig
}

// NewFlow checks that the platform has a login of cfg.Kind.
func NewFlow(cfg FlowConfig) (*Flow, error) {
	if !slices.Contains(kv.Platforms, cfg.Platform) {
		return nil, fmt.Errorf("oauth: unknown platform %q", cfg.Platform)
	}
	if cfg.Kind != "oauth" && !(cfg.Kind == "setup_token" && cfg.Platform == "anthropic") {
		return nil, fmt.Errorf("oauth: %s accounts have no %q login", cfg.Platform, cfg.Kind)
	}
	if cfg.Kind == "setup_token" {
		cfg.Scopes = setupTokenScope
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	return &Flow{cfg: cfg}, nil
}

// Config returns the flow's client values.
func (f *Flow) Config() FlowConfig { return f.cfg }

// Start returns the authorize URL with a fresh PKCE S256 challenge and
// state, and the state and verifier that Finish needs.
func (f *Flow) Start() (authURL, state, verifier string, err error) {
	verifier, challenge, err := newPKCE()
	if err != nil {
		return "", "", "", err
	}
	if state, err = randomURLString(32); err != nil {
		return "", "", "", err
	}
	q := url.Values{
		"client_id":             {f.cfg.ClientID},
		"response_type":         {"code"},
		"redirect_uri":          {f.cfg.RedirectURL},
		"scope":                 {f.cfg.Scopes},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {state},
	}
	switch f.cfg.Platform {
	case "anthropic":
		q.Set("code", "true") // the callback page shows code#state to copy
	case "openai":
		q.Set("id_token_add_organizations", "true")
		q.Set("codex_cli_simplified_flow", "true")
	case "gemini":
		q.Set("access_type", "offline") // a refresh token
		q.Set("prompt", "consent")      // a refresh token on every login, not only the first
	}
	authURL, err = withQuery(f.cfg.AuthorizeURL, q)
	if err != nil {
		return "", "", "", err
	}
	return authURL, state, verifier, nil
}

// Finish parses pasted (code#state, the redirected URL, or for Google the
// bare code its page shows), checks the state, exchanges the code and
// returns an account with Platform, Type, tokens, ExpiresAt and what the
// platform tells about the user. Name, group and limits are the caller's.
func (f *Flow) Finish(ctx context.Context, pasted, state, verifier string) (kv.Account, error) {
	code, got, err := f.parse(pasted)
	if err != nil {
		return kv.Account{}, err
	}
	// Google's authcode page shows the code alone: there is no state to
	// check then, and PKCE still binds the code to this login.
	if (got != "" || f.cfg.Platform != "gemini") && subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
		return kv.Account{}, errors.New("state mismatch: the code belongs to another login attempt; run the login again")
	}
	tok, err := f.exchange(ctx, code, state, verifier)
	if err != nil {
		return kv.Account{}, err
	}
	return f.account(tok, time.Now()), nil
}

func (f *Flow) parse(pasted string) (code, state string, err error) {
	s := strings.TrimSpace(pasted)
	if f.cfg.Platform == "gemini" && s != "" && !strings.Contains(s, "#") &&
		!strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return s, "", nil
	}
	return parsePastedCode(s)
}

// account turns a token response into the platform's account.
func (f *Flow) account(tok tokenResponse, now time.Time) kv.Account {
	a := kv.Account{
		Platform: f.cfg.Platform, Type: f.cfg.Kind,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
	}
	id := ParseJWT(tok.IDToken)
	switch f.cfg.Platform {
	case "anthropic":
		a.Email = tok.Account.EmailAddress
		if f.cfg.Kind == "setup_token" {
			a.RefreshToken = "" // setup tokens are never refreshed
		} else {
			// Claude Code signed in this way names the account in its
			// metadata.user_id; a setup-token's client does not know it.
			a.AccountUUID = tok.Account.UUID
		}
	case "openai":
		a.IDToken, a.Email, a.AccountID = tok.IDToken, id.Email, id.Auth.ChatGPTAccountID
		if a.AccountID == "" {
			a.AccountID = ParseJWT(tok.AccessToken).Auth.ChatGPTAccountID
		}
	case "gemini":
		a.Email = id.Email // only when the openid scope was granted
	}
	if tok.ExpiresIn > 0 {
		a.ExpiresAt = kv.Time{Time: now.Add(time.Duration(tok.ExpiresIn) * time.Second)}
	} else {
		a.ExpiresAt = kv.Time{Time: ParseJWT(tok.AccessToken).Expiry()}
	}
	return a
}
