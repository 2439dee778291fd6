package upstreamtest

import (
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// Identity returned with every token grant.
const (
	mockAccountUUID = "4b0f8d5e-6c1a-4f7e-9a3b-2d8c1e5f7a90"
	mockOrgUUID     = "9e2d7c4b-1a5f-4e8d-b6c3-7f0a2e9d1b84"
	mockEmail       = "mock@example.com"
)

// oauthState is the token endpoint's memory. Guarded by Server.mu.
type oauthState struct {
	codes    map[string]bool // authorization codes not yet exchanged
	refresh  map[string]bool // refresh token → still usable
	verifier string
	seq      int
	steps    []TokenStep // scripted behaviours of the next token requests
}

// TokenStep is how one token request is answered, for testing a client's
// refresh failures. The zero TokenStep answers normally.
type TokenStep struct {
	// Hold, when set, keeps the request waiting until it is closed (or
	// the server closes); then the rest of the step applies.
	Hold <-chan struct{}
	// Status, when set, answers with this status and an OAuth
	// server_error body instead of a grant.
	Status int
	// NoAccessToken answers 200 with a grant that lacks access_token.
	NoAccessToken bool
}

// ScriptTokens queues steps for the next token requests, one each, at any
// of the token endpoints (Claude's, OpenAI's and Google's alike).
// Requests past the script are answered normally; a step that fails a
// request consumes no refresh token.
func (s *Server) ScriptTokens(steps ...TokenStep) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.steps = append(s.oauth.steps, steps...)
}

// tokenStep takes the next scripted TokenStep, waits out its Hold, and
// answers the request itself when the step fails it; it reports whether
// it did. A failed request is counted like any other.
func (s *Server) tokenStep(ctx *fasthttp.RequestCtx) bool {
	s.mu.Lock()
	var st TokenStep
	if len(s.oauth.steps) > 0 {
		st, s.oauth.steps = s.oauth.steps[0], s.oauth.steps[1:]
	}
	s.mu.Unlock()
	if st.Hold != nil {
		select {
		case <-st.Hold:
		case <-s.done:
		}
	}
	if st.Status == 0 && !st.NoAccessToken {
		return false
	}
	s.mu.Lock()
	s.tokenReq++
	s.mu.Unlock()
	ctx.SetContentType("application/json")
	if st.Status != 0 {
		ctx.SetStatusCode(st.Status)
		ctx.SetBody(obj("error", "server_error", "error_description", "The token service is temporarily unavailable."))
		return true
	}
	ctx.SetBody(obj("token_type", "Bearer", "expires_in", s.cfg.ExpiresIn, "scope", "user:inference"))
	return true
}

func newOAuthState() oauthState {
	return oauthState{codes: map[string]bool{}, refresh: map[string]bool{}}
}

// AddAuthCode registers an authorization code, good for one exchange at
// any of the token endpoints.
func (s *Server) AddAuthCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.codes[code] = true
}

// AddRefreshToken seeds rt as a valid, unused refresh token at every token
// endpoint. Claude's and OpenAI's consume it (rotation); Google's does not.
func (s *Server) AddRefreshToken(rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.refresh[rt] = true
}

// LastVerifier is the code_verifier of the latest authorization_code grant.
func (s *Server) LastVerifier() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth.verifier
}

// TokenRequests is the number of requests to the token endpoints, all
// three together (Claude's, OpenAI's and Google's); see TokenRequestsTo.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReq
}

// TokenRequestsTo is the number of requests to one token endpoint:
// "/v1/oauth/token" (Claude), "/oauth/token" (OpenAI) or "/token" (Google).
func (s *Server) TokenRequestsTo(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenTo[path]
}

// grant is the outcome of one token request.
type grant struct {
	errCode, errDesc string
	access, refresh  string // refresh "" for setup tokens
	expiresIn        int
}

// token serves POST /v1/oauth/token with JSON bodies, like
// platform.claude.com. Refresh tokens rotate: each is good once.
func (s *Server) token(ctx *fasthttp.RequestCtx) {
	if s.tokenStep(ctx) {
		return
	}
	body := ctx.PostBody()
	g := s.grant(body)
	ctx.SetContentType("application/json")
	if g.errCode != "" {
		ctx.SetStatusCode(400)
		b := append([]byte(`{"error":`), appendJSONString(nil, g.errCode)...)
		b = append(append(b, `,"error_description":`...), appendJSONString(nil, g.errDesc)...)
		ctx.SetBody(append(b, '}'))
		return
	}
	b := []byte(`{"token_type":"Bearer","access_token":`)
	b = appendJSONString(b, g.access)
	if g.refresh != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, g.refresh)
	}
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(g.expiresIn), 10)
	b = append(b, `,"scope":"user:inference user:profile user:sessions:claude_code"`...)
	b = append(b, `,"account":{"uuid":"`+mockAccountUUID+`","email_address":"`+mockEmail+`"}`...)
	b = append(b, `,"organization":{"uuid":"`+mockOrgUUID+`","name":"Mock Organization"}}`...)
	ctx.SetBody(b)
}

// grant decides a token request under the lock.
func (s *Server) grant(body []byte) grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenReq++
	if !gjson.ValidBytes(body) {
		return grant{errCode: "invalid_request", errDesc: "Request body must be JSON"}
	}
	switch gt := gjson.GetBytes(body, "grant_type").Str; gt {
	case "refresh_token":
		rt := gjson.GetBytes(body, "refresh_token").Str
		if !s.oauth.refresh[rt] || s.revoked[rt] {
			return grant{errCode: "invalid_grant", errDesc: "Refresh token not found or invalid"}
		}
		s.oauth.refresh[rt] = false
		return s.issueLocked(s.cfg.ExpiresIn, true)
	case "authorization_code":
		code := gjson.GetBytes(body, "code").Str
		verifier := gjson.GetBytes(body, "code_verifier").Str
		if !s.oauth.codes[code] {
			return grant{errCode: "invalid_grant", errDesc: "Invalid 'code' in request."}
		}
		if verifier == "" {
			return grant{errCode: "invalid_request", errDesc: "Missing code_verifier"}
		}
		delete(s.oauth.codes, code)
		s.oauth.verifier = verifier
		// A setup-token exchange asks for a long lifetime and gets no
		// refresh token.
		if ttl := gjson.GetBytes(body, "expires_in").Int(); ttl > 0 {
			return s.issueLocked(int(ttl), false)
		}
		return s.issueLocked(s.cfg.ExpiresIn, true)
	default:
		return grant{errCode: "unsupported_grant_type", errDesc: "Grant type " + strconv.Quote(gt) + " is not supported"}
	}
}

// issueLocked mints a new access token and, if withRefresh, a new usable
// refresh token. Access tokens need no registration: every credential the
// mock has not revoked is accepted.
func (s *Server) issueLocked(expiresIn int, withRefresh bool) grant {
	s.oauth.seq++
	n := strconv.Itoa(s.oauth.seq)
	g := grant{access: "sk-ant-oat01-" + n, expiresIn: expiresIn}
	if withRefresh {
		g.refresh = "sk-ant-ort01-" + n
		s.oauth.refresh[g.refresh] = true
	}
	return g
}
