package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/proxy/upstream"
)

// ErrRefreshRejected means the OAuth server refused the refresh token
// (invalid_grant and friends): the account needs a new login.
var ErrRefreshRejected = errors.New("oauth refresh rejected")

// ErrTokenNotPersisted means a refresh succeeded but its rotated token
// could not be saved, even after retries. Its access token is not used:
// serving on a token that a restart would lose trades a working account
// now for a dead one later, silently. The account goes to error instead.
var ErrTokenNotPersisted = errors.New("token not persisted")

// SaveAttempts bounds the tries to save a rotated token; the waits
// between them start at TokensConfig.SaveBackoff and double.
const SaveAttempts = 3

// TokenStore persists rotated OAuth tokens. kv.DB implements it.
type TokenStore interface {
	LoadToken(name string) (kv.Token, error)
	SaveToken(name string, t kv.Token) error
}

// Endpoint is where a platform refreshes its tokens.
type Endpoint struct {
	TokenURL     string
	ClientID     string
	ClientSecret string // Google's installed-app secret
	UserAgent    string
}

// TokensConfig configures a Tokens manager.
type TokensConfig struct {
	Store     TokenStore // may be nil (tests)
	Endpoints map[string]Endpoint
	Ahead     time.Duration // refresh this long before expiry; default 5m
	Timeout   time.Duration // one token request; default 30s
	// SaveBackoff is the first wait before retrying to save a rotated
	// token; default 100ms (the tries then take about 300ms at most,
	// plus the store's own time).
	SaveBackoff time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
	// clients make the token requests, through each account's egress
	// proxy.
	clients *upstream.Clients
}

// Tokens hands out live OAuth access tokens: it refreshes them ahead of
// expiry, one refresh at a time per account, and persists each rotated
// refresh token before the new access token is used; an access token
// whose refresh could not be saved is never used (ErrTokenNotPersisted).
type Tokens struct {
	cfg TokensConfig
	mu  sync.Mutex
	m   map[string]*tokenState

	refreshOK, refreshFailed atomic.Uint64
}

// Refreshes reports how many refreshes succeeded and failed.
func (t *Tokens) Refreshes() (ok, failed uint64) {
	return t.refreshOK.Load(), t.refreshFailed.Load()
}

type tokenState struct {
	mu         sync.Mutex
	access     string
	refresh    string
	idToken    string
	expires    time.Time
	refreshing chan struct{} // non-nil while a refresh runs
	lastErr    error
}

// NewTokens returns a token manager.
func NewTokens(cfg TokensConfig) *Tokens {
	if cfg.Ahead <= 0 {
		cfg.Ahead = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.SaveBackoff <= 0 {
		cfg.SaveBackoff = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.clients == nil {
		cfg.clients = upstream.New(upstream.Config{MaxResponseBytes: 1 << 20})
	}
	return &Tokens{cfg: cfg, m: make(map[string]*tokenState)}
}

// seed identifies the credentials written in the config, so that a user who
// pastes a new login into the file wins over the rotated copy in kv.
func seed(a *upstream.Account) string {
	h := sha256.Sum256([]byte(a.AccessToken + "\x00" + a.RefreshToken))
	return hex.EncodeToString(h[:8])
}

func (t *Tokens) state(a *upstream.Account) *tokenState {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st, ok := t.m[a.Name]; ok {
		return st
	}
	st := &tokenState{access: a.AccessToken, refresh: a.RefreshToken, idToken: a.IDToken, expires: a.ExpiresAt}
	if t.cfg.Store != nil {
		if tok, err := t.cfg.Store.LoadToken(a.Name); err == nil && (!a.FromConfig || tok.Seed == seed(a)) {
			st.access, st.refresh, st.expires = tok.AccessToken, tok.RefreshToken, tok.ExpiresAt
			if tok.IDToken != "" {
				st.idToken = tok.IDToken
			}
		}
	}
	t.m[a.Name] = st
	return st
}

// Forget drops the cached state of an account (deleted or edited).
func (t *Tokens) Forget(name string) {
	t.mu.Lock()
	delete(t.m, name)
	t.mu.Unlock()
}

// Token returns a usable access token for a, refreshing it first when it
// expires within the configured margin.
func (t *Tokens) Token(ctx context.Context, a *upstream.Account) (string, error) {
	st := t.state(a)
	st.mu.Lock()
	access, exp := st.access, st.expires
	st.mu.Unlock()
	if a.Type != "oauth" || exp.IsZero() || t.cfg.Now().Add(t.cfg.Ahead).Before(exp) {
		if access == "" && a.Type == "oauth" {
			return t.Refresh(ctx, a, "")
		}
		return access, nil
	}
	return t.Refresh(ctx, a, access)
}

// IDToken returns the current id_token of an account (OpenAI OAuth).
func (t *Tokens) IDToken(a *upstream.Account) string {
	st := t.state(a)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.idToken
}

// Refresh gets a new access token unless the current one already differs
// from stale (another request refreshed it meanwhile). Concurrent callers
// share one refresh.
func (t *Tokens) Refresh(ctx context.Context, a *upstream.Account, stale string) (string, error) {
	if a.Type != "oauth" {
		return "", fmt.Errorf("%s tokens are not refreshed", a.Type)
	}
	st := t.state(a)
	for {
		st.mu.Lock()
		if st.access != stale && st.access != "" && t.cfg.Now().Add(t.cfg.Ahead).Before(st.expires) {
			access := st.access
			st.mu.Unlock()
			return access, nil
		}
		if ch := st.refreshing; ch != nil {
			st.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			st.mu.Lock()
			access, err := st.access, st.lastErr
			st.mu.Unlock()
			if err != nil {
				return "", err
			}
			if access != stale {
				return access, nil
			}
			continue
		}
		ch := make(chan struct{})
		st.refreshing = ch
		refresh := st.refresh
		st.mu.Unlock()

		res, err := t.doRefresh(a, refresh)
		st.mu.Lock()
		st.lastErr = err
		switch {
		case err == nil:
			st.access, st.expires = res.AccessToken, res.ExpiresAt
			if res.RefreshToken != "" {
				st.refresh = res.RefreshToken
			}
			if res.IDToken != "" {
				st.idToken = res.IDToken
			}
		case errors.Is(err, ErrTokenNotPersisted):
			// The old refresh token is spent where tokens rotate. Keep
			// the new one in memory only, so that a later refresh (an
			// admin's, once the store works) can still save a login;
			// its access token stays unused.
			st.refresh = res.RefreshToken
		}
		st.refreshing = nil
		st.mu.Unlock()
		close(ch)
		if err != nil {
			return "", err
		}
		return res.AccessToken, nil
	}
}

// doRefresh calls the platform's token endpoint and persists the result
// before anyone uses it: refresh tokens rotate, and a rotated token that is
// lost is an account that needs a new login. When it cannot be saved it
// returns the token with ErrTokenNotPersisted.
func (t *Tokens) doRefresh(a *upstream.Account, refresh string) (kv.Token, error) {
	if refresh == "" {
		return kv.Token{}, fmt.Errorf("%w: no refresh token", ErrRefreshRejected)
	}
	ep, ok := t.cfg.Endpoints[a.Platform]
	if !ok || ep.TokenURL == "" {
		return kv.Token{}, fmt.Errorf("no oauth endpoint for platform %s", a.Platform)
	}
	tok, err := refreshOAuth(t.cfg.clients, a, ep, refresh, t.cfg.Now(), t.cfg.Timeout)
	if err != nil {
		t.refreshFailed.Add(1)
		t.cfg.Logger.Warn("oauth refresh failed", "acct", a.Name, "err", err)
		return kv.Token{}, err
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refresh
	}
	if a.FromConfig {
		tok.Seed = seed(a)
	}
	if err := t.save(a.Name, tok); err != nil {
		t.refreshFailed.Add(1)
		t.cfg.Logger.Error("rotated oauth token not persisted; the account is set to error", "acct", a.Name, "err", err)
		return tok, fmt.Errorf("%w: %w", ErrTokenNotPersisted, err)
	}
	t.refreshOK.Add(1)
	t.cfg.Logger.Info("oauth token refreshed", "acct", a.Name, "expires", tok.ExpiresAt.Format(time.RFC3339))
	return tok, nil
}

// save persists tok, trying SaveAttempts times with a doubling wait: a
// store that fails for a moment (a busy disk) must not cost a login.
func (t *Tokens) save(name string, tok kv.Token) error {
	if t.cfg.Store == nil {
		return nil
	}
	wait := t.cfg.SaveBackoff
	var err error
	for i := range SaveAttempts {
		if i > 0 {
			time.Sleep(wait)
			wait *= 2
		}
		if err = t.cfg.Store.SaveToken(name, tok); err == nil {
			return nil
		}
		t.cfg.Logger.Warn("save rotated oauth token", "acct", name, "attempt", i+1, "err", err)
	}
	return err
}

// refreshOAuth performs one refresh_token grant. Anthropic and OpenAI take
// JSON; Google takes a form.
func refreshOAuth(u *upstream.Clients, a *upstream.Account, ep Endpoint, refresh string, now time.Time, timeout time.Duration) (kv.Token, error) {
	cp, err := u.For(a.Proxy)
	if err != nil {
		return kv.Token{}, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(ep.TokenURL)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.Set("Accept", "application/json")
	if ep.UserAgent != "" {
		req.Header.SetUserAgent(ep.UserAgent)
	}
	if a.Platform == "gemini" {
		args := fasthttp.AcquireArgs()
		args.Set("grant_type", "refresh_token")
		args.Set("refresh_token", refresh)
		args.Set("client_id", ep.ClientID)
		if ep.ClientSecret != "" {
			args.Set("client_secret", ep.ClientSecret)
		}
		req.Header.SetContentType("application/x-www-form-urlencoded")
		req.SetBody(args.QueryString())
		fasthttp.ReleaseArgs(args)
	} else {
		req.Header.SetContentType("application/json")
		req.SetBody(fmt.Appendf(nil, `{"grant_type":"refresh_token","refresh_token":%q,"client_id":%q}`, refresh, ep.ClientID))
	}
	if err := cp.Buffered.DoTimeout(req, resp, timeout); err != nil {
		return kv.Token{}, fmt.Errorf("oauth token endpoint: %w", err)
	}
	body := resp.Body()
	if sc := resp.StatusCode(); sc != fasthttp.StatusOK {
		code := gjson.GetBytes(body, "error")
		reason := code.String()
		if code.IsObject() {
			reason = code.Get("type").String() + " " + code.Get("message").String()
		}
		if sc == 400 || sc == 401 || sc == 403 {
			return kv.Token{}, fmt.Errorf("%w: status %d %s", ErrRefreshRejected, sc, reason)
		}
		return kv.Token{}, fmt.Errorf("oauth token endpoint: status %d %s", sc, reason)
	}
	access := gjson.GetBytes(body, "access_token").String()
	if access == "" {
		return kv.Token{}, errors.New("oauth token endpoint: no access_token in response")
	}
	tok := kv.Token{
		AccessToken:  access,
		RefreshToken: gjson.GetBytes(body, "refresh_token").String(),
		IDToken:      gjson.GetBytes(body, "id_token").String(),
		Updated:      now,
	}
	if sec := gjson.GetBytes(body, "expires_in").Int(); sec > 0 {
		tok.ExpiresAt = now.Add(time.Duration(sec) * time.Second)
	}
	return tok, nil
}

// ForceRefresh refreshes an OAuth account's token now (admin action).
func (t *Tokens) ForceRefresh(ctx context.Context, a *upstream.Account) (string, error) {
	st := t.state(a)
	st.mu.Lock()
	current := st.access
	st.mu.Unlock()
	if current == "" {
		current = "\x00none" // Refresh must not take "" as fresh
	}
	return t.Refresh(ctx, a, current)
}
