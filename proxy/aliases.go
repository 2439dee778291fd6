package proxy

import (
	"subgate/proxy/oauth"
	"subgate/proxy/upstream"
)

// The names package main wires the gateway with, from the rooms they
// moved to. They are aliases, not copies: new code may use the rooms'
// names directly.
type (
	// Account is an upstream account (upstream.Account).
	Account = upstream.Account
	// Tokens is the OAuth token manager (oauth.Tokens).
	Tokens = oauth.Tokens
	// TokensConfig configures Tokens (oauth.TokensConfig).
	TokensConfig = oauth.TokensConfig
	// OAuthEndpoint is where a platform refreshes its tokens
	// (oauth.Endpoint).
	OAuthEndpoint = oauth.Endpoint
	// TokenStore persists rotated OAuth tokens (oauth.TokenStore).
	TokenStore = oauth.TokenStore
)

// NewTokens returns a token manager (oauth.NewTokens).
func NewTokens(cfg TokensConfig) *Tokens { return oauth.NewTokens(cfg) }
