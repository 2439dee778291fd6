package proxy

import (
	"slices"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Model lists answered locally: clients use them only to offer choices, so
// a local list beats a call to an account.
var (
	claudeModels = []string{
		"claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5", "claude-opus-4-1",
		"claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5",
	}
	openaiModels = []string{
		"gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex", "gpt-5.2", "gpt-5.2-codex",
		"gpt-5.1", "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.1-codex-mini", "gpt-5", "gpt-5-codex", "gpt-5-mini",
	}
	geminiModels = []string{
		"gemini-3.1-pro-preview", "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-2.5-pro", "gemini-2.5-flash",
	}
)

// modelIDs is the built-in list for a platform plus the names the model
// maps of the key's group accept.
func (s *Server) modelIDs(p *pool, k *Key, platform string, builtin []string) []string {
	ids := slices.Clone(builtin)
	var extra []string
	for _, a := range p.accounts {
		if a.Platform != platform || a.Group != k.Group {
			continue
		}
		for m := range a.ModelMap {
			if !slices.Contains(ids, m) && !slices.Contains(extra, m) {
				extra = append(extra, m)
			}
		}
	}
	slices.Sort(extra)
	return append(ids, extra...)
}

// models answers GET /v1/models: the Anthropic list shape, or the OpenAI
// one for OpenAI clients of a group that has OpenAI accounts.
func (s *Server) models(ctx *fasthttp.RequestCtx) {
	p := s.pool.load()
	k := s.authenticate(ctx, p)
	openai := string(ctx.Path()) == "/openai/v1/models"
	if !openai && len(ctx.Request.Header.Peek("anthropic-version")) == 0 && len(ctx.Request.Header.Peek("x-api-key")) == 0 && k != nil {
		openai = s.groupHas(p, k, "openai") && !s.groupHas(p, k, "anthropic")
	}
	if k == nil {
		if openai {
			writeError(ctx, s.responses, fasthttp.StatusUnauthorized, KindAuthentication, "invalid api key")
		} else {
			writeError(ctx, s.anthropic, fasthttp.StatusUnauthorized, KindAuthentication, "invalid x-api-key")
		}
		return
	}
	var b []byte
	if openai {
		b = []byte(`{"object":"list","data":[`)
		for i, id := range s.modelIDs(p, k, "openai", openaiModels) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = strconv.AppendQuote(b, id)
			b = append(b, `,"object":"model","created":1735689600,"owned_by":"subgate"}`...)
		}
		b = append(b, `]}`...)
	} else {
		ids := s.modelIDs(p, k, "anthropic", claudeModels)
		b = []byte(`{"data":[`)
		for i, id := range ids {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"model","id":`...)
			b = strconv.AppendQuote(b, id)
			b = append(b, `,"display_name":`...)
			b = strconv.AppendQuote(b, id)
			b = append(b, `,"created_at":"2025-01-01T00:00:00Z"}`...)
		}
		b = append(b, `],"has_more":false,"first_id":`...)
		b = strconv.AppendQuote(b, ids[0])
		b = append(b, `,"last_id":`...)
		b = strconv.AppendQuote(b, ids[len(ids)-1])
		b = append(b, '}')
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// geminiModels answers GET /v1beta/models in the Gemini shape.
func (s *Server) geminiModels(ctx *fasthttp.RequestCtx) {
	p := s.pool.load()
	k := s.authenticate(ctx, p)
	if k == nil {
		writeError(ctx, s.gemini, fasthttp.StatusUnauthorized, KindAuthentication, "API key not valid")
		return
	}
	b := []byte(`{"models":[`)
	for i, id := range s.modelIDs(p, k, "gemini", geminiModels) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = strconv.AppendQuote(b, "models/"+id)
		b = append(b, `,"displayName":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, `,"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}`...)
	}
	b = append(b, `]}`...)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func (s *Server) groupHas(p *pool, k *Key, platform string) bool {
	for _, a := range p.accounts {
		if a.Group == k.Group && a.Platform == platform {
			return true
		}
	}
	return false
}
