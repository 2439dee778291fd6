package main

import (
	"fmt"

	"subgate/proxy/oauth"
)

// OpenAIUpstream holds the OpenAI API, the ChatGPT Codex backend and the
// OpenAI OAuth client values.
type OpenAIUpstream struct {
	BaseURL           string `toml:"base_url"`
	CodexBaseURL      string `toml:"codex_base_url"`
	OAuthTokenURL     string `toml:"oauth_token_url"`
	OAuthAuthorizeURL string `toml:"oauth_authorize_url"`
	OAuthClientID     string `toml:"oauth_client_id"`
	OAuthRedirectURL  string `toml:"oauth_redirect_url"`
	OAuthScopes       string `toml:"oauth_scopes"`
}

// GeminiUpstream holds the Gemini API, Code Assist and the Google OAuth
// client values of Gemini CLI.
type GeminiUpstream struct {
	BaseURL           string `toml:"base_url"`
	CodeAssistBaseURL string `toml:"code_assist_base_url"`
	OAuthTokenURL     string `toml:"oauth_token_url"`
	OAuthAuthorizeURL string `toml:"oauth_authorize_url"`
	OAuthClientID     string `toml:"oauth_client_id"`
	OAuthClientSecret string `toml:"oauth_client_secret"`
	OAuthRedirectURL  string `toml:"oauth_redirect_url"`
	OAuthScopes       string `toml:"oauth_scopes"`
}

func defaultOpenAIUpstream() OpenAIUpstream {
	return OpenAIUpstream{
		BaseURL:           "https://api.openai.com/v1",
		CodexBaseURL:      "https://chatgpt.com/backend-api/codex",
		OAuthTokenURL:     "https://auth.openai.com/oauth/token",
		OAuthAuthorizeURL: "https://auth.openai.com/oauth/authorize",
		OAuthClientID:     "app_EMoamEEZ73f0CkXaXp7hrann",
		OAuthRedirectURL:  "http://localhost:1455/auth/callback",
		OAuthScopes:       "openid profile email offline_access",
	}
}

func defaultGeminiUpstream() GeminiUpstream {
	return GeminiUpstream{
		BaseURL:           "https://generativelanguage.googleapis.com",
		CodeAssistBaseURL: "https://cloudcode-pa.googleapis.com",
		OAuthTokenURL:     "https://oauth2.googleapis.com/token",
		OAuthAuthorizeURL: "https://accounts.google.com/o/oauth2/v2/auth",
		OAuthClientID:     "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
		// Gemini CLI's public "installed application" secret: not a secret
		// for such clients, Google documents it as embeddable.
		OAuthClientSecret: "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",
		OAuthRedirectURL:  "https://codeassist.google.com/authcode",
		OAuthScopes:       "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
	}
}

func (c Config) validateOtherUpstreams(v *validator) {
	o, g := c.Upstreams.OpenAI, c.Upstreams.Gemini
	for _, f := range []struct{ key, val string }{
		{"upstreams.openai.base_url", o.BaseURL},
		{"upstreams.openai.codex_base_url", o.CodexBaseURL},
		{"upstreams.openai.oauth_token_url", o.OAuthTokenURL},
		{"upstreams.openai.oauth_authorize_url", o.OAuthAuthorizeURL},
		{"upstreams.openai.oauth_redirect_url", o.OAuthRedirectURL},
		{"upstreams.gemini.base_url", g.BaseURL},
		{"upstreams.gemini.code_assist_base_url", g.CodeAssistBaseURL},
		{"upstreams.gemini.oauth_token_url", g.OAuthTokenURL},
		{"upstreams.gemini.oauth_authorize_url", g.OAuthAuthorizeURL},
		{"upstreams.gemini.oauth_redirect_url", g.OAuthRedirectURL},
	} {
		if !httpURL(f.val) {
			v.add(f.key, "must be an http(s) URL")
		}
	}
}

// newOAuthFlow returns platform's login flow with the [upstreams] client
// values. kind is "oauth", or "setup_token" for a long-lived
// inference-only Claude token.
func newOAuthFlow(cfg Config, platform, kind string) (*oauth.Flow, error) {
	fc := oauth.FlowConfig{Platform: platform, Kind: kind}
	var key string
	switch platform {
	case "anthropic":
		up := cfg.Upstreams.Anthropic
		key = "upstreams.anthropic"
		fc.AuthorizeURL, fc.TokenURL, fc.ClientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		fc.RedirectURL, fc.Scopes, fc.UserAgent = up.OAuthRedirectURL, up.OAuthScopes, up.UserAgent
	case "openai":
		up := cfg.Upstreams.OpenAI
		key = "upstreams.openai"
		fc.AuthorizeURL, fc.TokenURL, fc.ClientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		fc.RedirectURL, fc.Scopes = up.OAuthRedirectURL, up.OAuthScopes
	case "gemini":
		up := cfg.Upstreams.Gemini
		key = "upstreams.gemini"
		fc.AuthorizeURL, fc.TokenURL, fc.ClientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		fc.ClientSecret, fc.RedirectURL, fc.Scopes = up.OAuthClientSecret, up.OAuthRedirectURL, up.OAuthScopes
	}
	f, err := oauth.NewFlow(fc)
	switch {
	case err != nil:
		return nil, err
	case fc.ClientID == "":
		return nil, fmt.Errorf("%s.oauth_client_id is empty", key)
	case fc.AuthorizeURL == "" || fc.TokenURL == "" || fc.RedirectURL == "":
		return nil, fmt.Errorf("%s: oauth_authorize_url, oauth_token_url and oauth_redirect_url are required", key)
	}
	return f, nil
}
