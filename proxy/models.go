package proxy

import (
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/proxy/protocol"
	"subgate/sched"
)

// The model listings, one per API family, list what the calling key can
// reach in that family's shape: every name some account of the key's
// group serves to a client of the family (sched's Route, the rule the
// scheduler applies), filtered by the key's allow-list. An account offers
// the built-in list of its platform's current models, or, with an
// allow-list, the built-in models of any platform the list matches and
// the names it spells out; and the aliases of its model map. They are
// answered from memory, without an upstream call: Claude Code's gateway
// discovery gives the listing three seconds.

// listPlatforms is the order families are listed in after the client's own.
var listPlatforms = [...]string{"anthropic", "openai", "gemini"}

// reachable lists the models k can reach from a client of platform: the
// built-in models of the client's family first, then those of the other
// families, each in its list's order (newest first), then the names only
// accounts know (aliases, spelled-out allow-list entries), sorted.
func reachable(p *pool, k *Key, platform string) []string {
	set := make(map[string]bool)
	add := func(a *Account, m string) {
		if _, how := a.Route(platform, m, k.Translate); how != sched.Unreachable && k.allowsModel(m) {
			set[m] = true
		}
	}
	for _, a := range p.accounts {
		if a.Group != k.Group {
			continue
		}
		for m := range a.ModelMap {
			add(a, m)
		}
		for _, g := range a.Models {
			if !strings.ContainsAny(g, `*?[\`) {
				add(a, g)
			}
		}
		for _, plat := range listPlatforms {
			if plat == a.Platform || len(a.Models) > 0 {
				for _, m := range protocol.BuiltinModels(plat) {
					add(a, m)
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	take := func(plat string) {
		for _, m := range protocol.BuiltinModels(plat) {
			if set[m] {
				out = append(out, m)
				delete(set, m)
			}
		}
	}
	take(platform)
	for _, plat := range listPlatforms {
		take(plat)
	}
	rest := make([]string, 0, len(set))
	for m := range set {
		rest = append(rest, m)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// listingKey authenticates a model listing: the key, or nil after a 401
// in p's shape.
func (s *Server) listingKey(ctx *fasthttp.RequestCtx, pl *pool, p protocol.Protocol, msg string) *Key {
	k := s.authenticate(ctx, pl)
	if k == nil {
		writeError(ctx, p, fasthttp.StatusUnauthorized, protocol.KindAuthentication, msg)
		return nil
	}
	if why := keyUsable(k, time.Now()); why != "" {
		writeError(ctx, p, fasthttp.StatusUnauthorized, protocol.KindAuthentication, why)
		return nil
	}
	return k
}

// models answers GET /v1/models: the Anthropic list shape, or the OpenAI
// one for OpenAI clients (GET /openai/v1/models, or a request without
// Anthropic's headers from a key whose group has OpenAI accounts and no
// Anthropic ones).
func (s *Server) models(ctx *fasthttp.RequestCtx) {
	p := s.pool.load()
	openai := string(ctx.Path()) == "/openai/v1/models"
	if !openai && len(ctx.Request.Header.Peek("anthropic-version")) == 0 && len(ctx.Request.Header.Peek("x-api-key")) == 0 {
		if k := s.authenticate(ctx, p); k != nil {
			openai = groupHas(p, k, "openai") && !groupHas(p, k, "anthropic")
		}
	}
	proto, msg := protocol.Protocol(s.anthropic), "invalid x-api-key"
	if openai {
		proto, msg = s.responses, "invalid api key"
	}
	k := s.listingKey(ctx, p, proto, msg)
	if k == nil {
		return
	}
	ctx.SetContentType("application/json")
	if openai {
		ctx.SetBody(protocol.OpenAIModelList(reachable(p, k, "openai")))
	} else {
		ctx.SetBody(protocol.AnthropicModelList(reachable(p, k, "anthropic")))
	}
}

// geminiModels answers GET /v1beta/models in the Gemini shape.
func (s *Server) geminiModels(ctx *fasthttp.RequestCtx) {
	p := s.pool.load()
	k := s.listingKey(ctx, p, s.gemini, "API key not valid")
	if k == nil {
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(protocol.GeminiModelList(reachable(p, k, "gemini")))
}

func groupHas(p *pool, k *Key, platform string) bool {
	for _, a := range p.accounts {
		if a.Group == k.Group && a.Platform == platform {
			return true
		}
	}
	return false
}
