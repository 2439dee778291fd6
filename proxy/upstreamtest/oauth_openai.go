package upstreamtest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// MockChatGPTAccountID is the chatgpt_account_id claim of issued id_tokens
// when Config.ChatGPTAccountID is empty.
const MockChatGPTAccountID = "acct_mock"

// openaiAuthClaim is the id_token claim that holds the ChatGPT account.
const openaiAuthClaim = "https://api.openai.com/auth"

// IDToken returns an unsigned JWT (header.payload.signature, base64url)
// shaped like the id_token auth.openai.com issues: its payload carries
// email and the "https://api.openai.com/auth" claim with
// chatgpt_account_id. Useful to build ~/.codex/auth.json fixtures.
func IDToken(accountID, email string) string {
	now := time.Now().Unix()
	payload := obj("iss", "https://auth.openai.com", "aud", arr("app_EMoamEEZ73f0CkXaXp7hrann"),
		"sub", "auth0|mock", "email", email, "email_verified", true, "iat", now, "exp", now+3600,
		openaiAuthClaim, obj("chatgpt_account_id", accountID, "chatgpt_plan_type", "plus",
			"chatgpt_user_id", "user-mock"))
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "." + enc([]byte("mock-signature"))
}

// tokenParams reads token request parameters from a JSON body or, when
// the body is not a JSON object, from a form-encoded one.
func tokenParams(ctx *fasthttp.RequestCtx) func(string) string {
	body := ctx.PostBody()
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		return func(k string) string { return gjson.GetBytes(body, k).Str }
	}
	args := ctx.PostArgs()
	return func(k string) string { return string(args.Peek(k)) }
}

// tokenReply is a token endpoint's answer: status and JSON body.
type tokenReply struct {
	status int
	body   json.RawMessage
}

// flatError is the OAuth {"error","error_description"} body.
func flatError(status int, code, desc string) tokenReply {
	return tokenReply{status, obj("error", code, "error_description", desc)}
}

// openaiToken serves POST /oauth/token like auth.openai.com: refresh
// tokens rotate, a reused one is a 401 refresh_token_reused.
func (s *Server) openaiToken(ctx *fasthttp.RequestCtx) {
	if s.tokenStep(ctx) {
		return
	}
	p := tokenParams(ctx)
	s.mu.Lock()
	s.tokenReq++
	r := s.openaiGrantLocked(p)
	s.mu.Unlock()
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(r.status)
	ctx.SetBody(r.body)
}

func (s *Server) openaiGrantLocked(p func(string) string) tokenReply {
	if p("client_id") == "" {
		return flatError(400, "invalid_request", "Missing required parameter: client_id")
	}
	switch gt := p("grant_type"); gt {
	case "refresh_token":
		rt := p("refresh_token")
		usable, known := s.oauth.refresh[rt]
		switch {
		case s.revoked[rt]:
			return refreshFailure("refresh_token_invalidated", "Your refresh token has been invalidated. Please try signing in again.")
		case !known:
			return refreshFailure("refresh_token_expired", "Your refresh token has expired. Please try signing in again.")
		case !usable:
			return refreshFailure("refresh_token_reused", "Your refresh token has already been used to generate a new access token. Please try signing in again.")
		}
		s.oauth.refresh[rt] = false
	case "authorization_code":
		if r, ok := s.exchangeLocked(p, true); !ok {
			return r
		}
	default:
		return flatError(400, "unsupported_grant_type", "Grant type "+strconv.Quote(gt)+" is not supported")
	}
	n := s.nextTokenLocked()
	rt := "oai-rt-mock-" + n
	s.oauth.refresh[rt] = true
	return tokenReply{200, obj("id_token", IDToken(cmp.Or(s.cfg.ChatGPTAccountID, MockChatGPTAccountID), mockEmail),
		"access_token", "oai-at-mock-"+n, "refresh_token", rt, "expires_in", s.cfg.ExpiresIn,
		"token_type", "Bearer", "scope", "openid profile email offline_access")}
}

// refreshFailure is auth.openai.com's 401 for an unusable refresh token.
func refreshFailure(code, message string) tokenReply {
	return tokenReply{401, obj("error", openaiErrorObject("invalid_request_error", code, "", message))}
}

// exchangeLocked consumes an authorization code registered with
// AddAuthCode; a PKCE verifier and a redirect_uri are required when
// strict. It reports false with the error reply otherwise.
func (s *Server) exchangeLocked(p func(string) string, strict bool) (tokenReply, bool) {
	code, verifier := p("code"), p("code_verifier")
	switch {
	case !s.oauth.codes[code]:
		return flatError(400, "invalid_grant", "Invalid authorization code"), false
	case strict && verifier == "":
		return flatError(400, "invalid_request", "Missing required parameter: code_verifier"), false
	case strict && p("redirect_uri") == "":
		return flatError(400, "invalid_request", "Missing required parameter: redirect_uri"), false
	}
	delete(s.oauth.codes, code)
	s.oauth.verifier = verifier
	return tokenReply{}, true
}

// nextTokenLocked numbers an issued token.
func (s *Server) nextTokenLocked() string {
	s.oauth.seq++
	return strconv.Itoa(s.oauth.seq)
}
