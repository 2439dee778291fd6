package upstreamtest

import (
	"cmp"
	"strconv"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// MockProject is the Code Assist project loadCodeAssist and onboardUser
// hand out when Config.CodeAssistProject is empty.
const MockProject = "mock-project-123"

const msgCodeAssistAuth = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."

// codeAssistState is Code Assist's memory per credential. Guarded by
// Server.mu.
type codeAssistState struct {
	calls     map[string]int    // method → calls
	onboarded map[string]string // credential → tier id
	pending   map[string]string // credential → tier id of a running onboardUser
}

func newCodeAssistState() codeAssistState {
	return codeAssistState{calls: map[string]int{}, onboarded: map[string]string{}, pending: map[string]string{}}
}

// CodeAssistCalls is the number of Code Assist calls to method
// ("generateContent", "streamGenerateContent", "countTokens",
// "loadCodeAssist", "onboardUser", "getOperation"), authorized or not.
func (s *Server) CodeAssistCalls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ca.calls[method]
}

func (s *Server) project() string { return cmp.Or(s.cfg.CodeAssistProject, MockProject) }

// codeAssist serves /v1internal:{method} (POST) and
// /v1internal/operations/… (GET, method "getOperation").
func (s *Server) codeAssist(ctx *fasthttp.RequestCtx, cred, method string) {
	s.mu.Lock()
	s.ca.calls[method]++
	s.mu.Unlock()
	if cred == "" || s.isRevoked(cred) {
		writeGoogleError(ctx, 401, "UNAUTHENTICATED", msgCodeAssistAuth)
		return
	}
	body := ctx.PostBody()
	if method != "getOperation" && !validGoogleJSON(ctx, body) {
		return
	}
	switch method {
	case "loadCodeAssist":
		s.loadCodeAssist(ctx, cred)
	case "onboardUser":
		s.onboardUser(ctx, cred, body)
	case "getOperation":
		s.getOperation(ctx, cred)
	case "countTokens":
		s.countGeminiTokens(ctx, body)
	case "generateContent", "streamGenerateContent":
		if s.codeAssistRequest(ctx, body) {
			trace := "mock-trace-" + strconv.FormatInt(s.seq.Add(1), 10)
			s.generate(ctx, cred, &geminiReply{model: gjson.GetBytes(body, "model").Str, trace: trace}, method)
		}
	default:
		writeGoogleError(ctx, 404, "NOT_FOUND", "Method not found.")
	}
}

// codeAssistRequest checks the wrapper of a generate call: a model, a
// request with contents, and a project unless Config.CodeAssistFreeTier.
func (s *Server) codeAssistRequest(ctx *fasthttp.RequestCtx, body []byte) bool {
	switch {
	case gjson.GetBytes(body, "model").Str == "":
		writeGoogleError(ctx, 400, "INVALID_ARGUMENT", "Request contains an invalid argument: model is required.")
	case !gjson.GetBytes(body, "request").IsObject():
		writeGoogleError(ctx, 400, "INVALID_ARGUMENT", "Request contains an invalid argument: request is required.")
	case gjson.GetBytes(body, "project").Str == "" && !s.cfg.CodeAssistFreeTier:
		writeGoogleError(ctx, 400, "INVALID_ARGUMENT", "Request contains an invalid argument: project is required.")
	default:
		return hasContents(ctx, gjson.GetBytes(body, "request.contents"))
	}
	return false
}

// tiers are the tiers a user may pick, the default first.
var tiers = arr(
	obj("id", "free-tier", "name", "Gemini Code Assist for individuals", "isDefault", true,
		"userDefinedCloudaicompanionProject", false),
	obj("id", "standard-tier", "name", "Gemini Code Assist Standard",
		"userDefinedCloudaicompanionProject", true))

// loadCodeAssist answers with the user's project and tier, or, for a user
// still to onboard (Config.CodeAssistNeedsOnboard), with the allowed tiers
// only.
func (s *Server) loadCodeAssist(ctx *fasthttp.RequestCtx, cred string) {
	s.mu.Lock()
	tier, ok := s.ca.onboarded[cred]
	s.mu.Unlock()
	if !ok && !s.cfg.CodeAssistNeedsOnboard {
		tier, ok = "standard-tier", true
	}
	ctx.SetContentType("application/json; charset=UTF-8")
	if !ok {
		ctx.SetBody(obj("allowedTiers", tiers, "gcpManaged", false))
		return
	}
	ctx.SetBody(obj("currentTier", obj("id", tier), "allowedTiers", tiers,
		"cloudaicompanionProject", s.project(), "gcpManaged", false))
}

// onboardUser starts a long-running onboarding the first time and reports
// it done, with the project, on the next call.
func (s *Server) onboardUser(ctx *fasthttp.RequestCtx, cred string, body []byte) {
	tier := gjson.GetBytes(body, "tierId").Str
	if tier == "" {
		writeGoogleError(ctx, 400, "INVALID_ARGUMENT", "Request contains an invalid argument: tierId is required.")
		return
	}
	s.mu.Lock()
	_, running := s.ca.pending[cred]
	if running {
		s.ca.onboarded[cred] = s.ca.pending[cred]
		delete(s.ca.pending, cred)
	} else {
		s.ca.pending[cred] = tier
	}
	s.mu.Unlock()
	if !running {
		ctx.SetContentType("application/json; charset=UTF-8")
		ctx.SetBody(obj("name", "operations/onboard-mock", "done", false))
		return
	}
	s.writeOnboarded(ctx)
}

// getOperation polls the running onboarding, which is then done.
func (s *Server) getOperation(ctx *fasthttp.RequestCtx, cred string) {
	s.mu.Lock()
	tier, running := s.ca.pending[cred]
	if running {
		s.ca.onboarded[cred] = tier
		delete(s.ca.pending, cred)
	}
	s.mu.Unlock()
	if !running {
		writeGoogleError(ctx, 404, "NOT_FOUND", "Operation not found.")
		return
	}
	s.writeOnboarded(ctx)
}

func (s *Server) writeOnboarded(ctx *fasthttp.RequestCtx) {
	resp := obj("@type", "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
		"cloudaicompanionProject", obj("id", s.project(), "name", "Mock Project"))
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetBody(obj("name", "operations/onboard-mock", "done", true, "response", resp))
}
