package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// tokenResponse is a token endpoint's answer; the account object is
// Anthropic's, id_token OpenAI's and Google's.
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

// exchange performs the authorization_code grant: a JSON body for
// Anthropic, a form for OpenAI and Google (with the client secret).
func (f *Flow) exchange(ctx context.Context, code, state, verifier string) (tokenResponse, error) {
	var body []byte
	ctype := "application/x-www-form-urlencoded"
	if f.cfg.Platform == "anthropic" {
		req := codeExchange{
			GrantType: "authorization_code", Code: code, RedirectURI: f.cfg.RedirectURL,
			ClientID: f.cfg.ClientID, CodeVerifier: verifier, State: state,
		}
		if f.cfg.Kind == "setup_token" {
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
			"redirect_uri":  {f.cfg.RedirectURL},
			"client_id":     {f.cfg.ClientID},
			"code_verifier": {verifier},
		}
		if f.cfg.ClientSecret != "" {
			form.Set("client_secret", f.cfg.ClientSecret)
		}
		body = []byte(form.Encode())
	}
	return f.post(ctx, body, ctype, code, verifier, f.cfg.ClientSecret)
}

// post sends one token request; secrets are kept out of any error.
func (f *Flow) post(ctx context.Context, body []byte, ctype string, secrets ...string) (tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.TokenURL, bytes.NewReader(body))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	if f.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", f.cfg.UserAgent)
	}
	resp, err := f.cfg.HTTP.Do(req)
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token exchange: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("token exchange: read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return tokenResponse{}, newEndpointError(resp.StatusCode, data, secrets...)
	}
	var tok tokenResponse
	if err := json.Unmarshal(data, &tok); err != nil || tok.AccessToken == "" {
		// The body may hold tokens: never echo it.
		return tokenResponse{}, fmt.Errorf("token exchange: %d response without an access_token", resp.StatusCode)
	}
	return tok, nil
}

// EndpointError is a non-2xx answer of a token endpoint, summarised so
// that it can be shown and logged: no body, no secrets.
type EndpointError struct {
	Status      int
	Code        string // the "error" field, e.g. invalid_grant
	Description string
}

func (e *EndpointError) Error() string {
	s := fmt.Sprintf("token endpoint answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

// newEndpointError reads the standard OAuth shape ({"error":"invalid_grant",
// "error_description":…}), the Anthropic API shape ({"error":{"type",
// "message"}}) and OpenAI's ({"error":{"code","type","message"}}). A
// description that contains one of secrets is dropped.
func newEndpointError(status int, body []byte, secrets ...string) *EndpointError {
	e := &EndpointError{Status: status}
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
