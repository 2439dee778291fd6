package proxy

import (
	"slices"

	"github.com/valyala/fasthttp"

	"subgate/proxy/protocol"
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
			writeError(ctx, s.responses, fasthttp.StatusUnauthorized, protocol.KindAuthentication, "invalid api key")
		} else {
			writeError(ctx, s.anthropic, fasthttp.StatusUnauthorized, protocol.KindAuthentication, "invalid x-api-key")
		}
		return
	}
	var b []byte
	if openai {
		b = protocol.OpenAIModelList(s.modelIDs(p, k, "openai", protocol.OpenAIModels))
	} else {
		b = protocol.AnthropicModelList(s.modelIDs(p, k, "anthropic", protocol.ClaudeModels))
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// geminiModels answers GET /v1beta/models in the Gemini shape.
func (s *Server) geminiModels(ctx *fasthttp.RequestCtx) {
	p := s.pool.load()
	k := s.authenticate(ctx, p)
	if k == nil {
		writeError(ctx, s.gemini, fasthttp.StatusUnauthorized, protocol.KindAuthentication, "API key not valid")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(protocol.GeminiModelList(s.modelIDs(p, k, "gemini", protocol.GeminiModels)))
}

func (s *Server) groupHas(p *pool, k *Key, platform string) bool {
	for _, a := range p.accounts {
		if a.Group == k.Group && a.Platform == platform {
			return true
		}
	}
	return false
}
