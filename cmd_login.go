package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"subgate/kv"
)

const loginUsage = "subgate login claude [--setup-token] [--name N] [--group G] [--concurrency C] [--priority P]"

// setupTokenLifetime is what `claude setup-token` asks for: one year.
const setupTokenLifetime = 31536000

// cmdLogin implements `subgate login claude [--setup-token] ...`; args are
// the arguments after "login". It runs the PKCE paste-the-code flow: print
// the authorize URL, read the pasted code#state from stdin, exchange it and
// store the tokens as a kv account.
func cmdLogin(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", loginUsage)
	}
	switch args[0] {
	case "claude":
	case "codex", "gemini":
		return notYet("login", args[0])
	default:
		return usageError("unknown platform %q; %s", args[0], loginUsage)
	}
	fs := flag.NewFlagSet("login claude", flag.ContinueOnError)
	setup := fs.Bool("setup-token", false, "long-lived (1 year) inference-only token, never refreshed")
	var f accountFlags
	f.register(fs)
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return usageError("%s (%v)", loginUsage, err)
	}
	if len(pos) > 0 {
		return usageError("%s", loginUsage)
	}
	if err := f.check(); err != nil {
		return err
	}
	if cfg.Upstreams.Anthropic.OAuthClientID == "" {
		return errors.New("upstreams.anthropic.oauth_client_id is empty")
	}
	typ, prefix := "oauth", "claude-oauth"
	if *setup {
		typ, prefix = "setup_token", "claude-setup"
	}
	var acct kv.Account
	// The store is opened first so that a locked data dir or a taken name
	// fails before the user spends a single-use authorization code.
	err = withStore(cfg, func(db *kv.DB) error {
		name, err := accountName(db, cfg, f, prefix)
		if err != nil {
			return err
		}
		tok, err := claudeLogin(ctx, cfg.Upstreams.Anthropic, *setup, stdin, stdout)
		if err != nil {
			return err
		}
		acct = kv.Account{
			Name: name, Platform: "anthropic", Type: typ,
			AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
			Email:       tok.Account.EmailAddress,
			Concurrency: f.concurrency, Priority: f.priority, Group: f.group,
		}
		if tok.ExpiresIn > 0 {
			acct.ExpiresAt = time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
		}
		if *setup {
			acct.RefreshToken = "" // setup tokens are never refreshed
		}
		return putAccount(db, acct)
	})
	if err != nil {
		return err
	}
	who := acct.Email
	if who == "" {
		who = "(email not reported)"
	}
	_, err = fmt.Fprintf(stdout, "logged in as %s; stored account %q (type %s, token %s, %s)\n",
		who, acct.Name, acct.Type, tokenPrefix(acct.AccessToken), expiryText(acct.ExpiresAt))
	return err
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Account      struct {
		UUID         string `json:"uuid"`
		EmailAddress string `json:"email_address"`
	} `json:"account"`
}

// claudeLogin runs the interactive part: authorize URL out, code in, tokens
// back.
func claudeLogin(ctx context.Context, up AnthropicUpstream, setup bool, stdin io.Reader, stdout io.Writer) (tokenResponse, error) {
	verifier, challenge, err := newPKCE()
	if err != nil {
		return tokenResponse{}, err
	}
	state, err := randomURLString(32)
	if err != nil {
		return tokenResponse{}, err
	}
	scope := up.OAuthScopes
	if setup {
		scope = "user:inference"
	}
	authURL, err := withQuery(up.OAuthAuthorizeURL, url.Values{
		"code":                  {"true"},
		"client_id":             {up.OAuthClientID},
		"response_type":         {"code"},
		"redirect_uri":          {up.OAuthRedirectURL},
		"scope":                 {scope},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {state},
	})
	if err != nil {
		return tokenResponse{}, err
	}
	fmt.Fprintf(stdout, "Open this URL in a browser and sign in with the Claude account to add:\n\n%s\n\n"+
		"Then paste the code the page shows (code#state), or the whole callback URL:\n", authURL)
	line, err := readLine(ctx, stdin)
	if err != nil {
		return tokenResponse{}, err
	}
	code, gotState, err := parsePastedCode(line)
	if err != nil {
		return tokenResponse{}, err
	}
	if subtle.ConstantTimeCompare([]byte(gotState), []byte(state)) != 1 {
		return tokenResponse{}, errors.New("state mismatch: the pasted code belongs to another login attempt; run the command again")
	}
	req := codeExchange{
		GrantType: "authorization_code", Code: code, RedirectURI: up.OAuthRedirectURL,
		ClientID: up.OAuthClientID, CodeVerifier: verifier, State: state,
	}
	if setup {
		req.ExpiresIn = setupTokenLifetime
	}
	return exchangeCode(ctx, up, req)
}

// codeExchange is the JSON body of the authorization_code grant.
type codeExchange struct {
	GrantType    string `json:"grant_type"`
	Code         string `json:"code"`
	RedirectURI  string `json:"redirect_uri"`
	ClientID     string `json:"client_id"`
	CodeVerifier string `json:"code_verifier"`
	State        string `json:"state"`
	ExpiresIn    int    `json:"expires_in,omitempty"`
}

func exchangeCode(ctx context.Context, up AnthropicUpstream, body codeExchange) (tokenResponse, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return tokenResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, up.OAuthTokenURL, bytes.NewReader(payload))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if up.UserAgent != "" {
		req.Header.Set("User-Agent", up.UserAgent)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token exchange: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token exchange: read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return tokenResponse{}, newOAuthError(resp.StatusCode, data, body.Code, body.CodeVerifier)
	}
	var tok tokenResponse
	if err := json.Unmarshal(data, &tok); err != nil || tok.AccessToken == "" {
		// The body may hold tokens: never echo it.
		return tokenResponse{}, fmt.Errorf("token exchange: %d response without an access_token", resp.StatusCode)
	}
	return tok, nil
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
// "error_description":…}) and the Anthropic API shape ({"error":{"type",
// "message"}}). A description that contains one of secrets is dropped.
func newOAuthError(status int, body []byte, secrets ...string) *OAuthError {
	e := &OAuthError{Status: status}
	var doc struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return e
	}
	var obj struct{ Type, Message string }
	if json.Unmarshal(doc.Error, &e.Code) != nil && json.Unmarshal(doc.Error, &obj) == nil {
		e.Code, e.Description = obj.Type, obj.Message
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
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

// readLine reads one line from r. The read runs in its own goroutine so that
// Ctrl-C (ctx) ends the wait: a blocked terminal read cannot be interrupted,
// and the goroutine ends with the process.
func readLine(ctx context.Context, r io.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case res := <-ch:
		if res.err != nil && (!errors.Is(res.err, io.EOF) || strings.TrimSpace(res.line) == "") {
			return "", fmt.Errorf("read code: %w", res.err)
		}
		return res.line, nil
	}
}
