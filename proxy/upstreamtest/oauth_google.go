package upstreamtest

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// googleScope is what Google grants the Gemini CLI client.
const googleScope = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid"

// googleToken serves POST /token like oauth2.googleapis.com: form-encoded
// (JSON accepted), access tokens ya29.mock-<n>, and refresh tokens that do
// NOT rotate: a refresh grant returns no refresh_token and the old one
// stays good until revoked.
func (s *Server) googleToken(ctx *fasthttp.RequestCtx) {
	if s.tokenStep(ctx) {
		return
	}
	p := tokenParams(ctx)
	s.mu.Lock()
	s.tokenReq++
	r := s.googleGrantLocked(p)
	s.mu.Unlock()
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetStatusCode(r.status)
	ctx.SetBody(r.body)
}

func (s *Server) googleGrantLocked(p func(string) string) tokenReply {
	if p("client_id") == "" {
		return flatError(401, "invalid_client", "The OAuth client was not found.")
	}
	refresh := false
	switch gt := p("grant_type"); gt {
	case "refresh_token":
		rt := p("refresh_token")
		if _, known := s.oauth.refresh[rt]; !known || s.revoked[rt] {
			return flatError(400, "invalid_grant", "Token has been expired or revoked.")
		}
	case "authorization_code":
		if r, ok := s.exchangeLocked(p, false); !ok {
			return r
		}
		refresh = true
	default:
		return flatError(400, "unsupported_grant_type", "Invalid grant_type: "+strconv.Quote(gt))
	}
	n := s.nextTokenLocked()
	kv := []any{"access_token", "ya29.mock-" + n, "expires_in", s.googleTTL, "scope", googleScope, "token_type", "Bearer"}
	if refresh {
		rt := "1//mock-rt-" + n
		s.oauth.refresh[rt] = true
		kv = append(kv, "refresh_token", rt)
	}
	return tokenReply{200, obj(kv...)}
}
