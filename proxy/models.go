package proxy

import (
	"sort"
	"strconv"

	"github.com/valyala/fasthttp"
)

// claudeModels is the list /v1/models answers with; clients use it only to
// offer choices, so a local list beats a call to an account.
var claudeModels = []string{
	"claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5", "claude-opus-4-1",
	"claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5",
}

// models answers GET /v1/models in the Anthropic list shape, adding the
// names the pool's model maps accept.
func (s *Server) models(ctx *fasthttp.RequestCtx) {
	p := s.pool.load()
	if s.authenticate(ctx, p) == nil {
		s.anthropic.WriteError(ctx, fasthttp.StatusUnauthorized, KindAuthentication, "invalid x-api-key")
		return
	}
	seen := make(map[string]bool)
	ids := append([]string(nil), claudeModels...)
	for _, id := range ids {
		seen[id] = true
	}
	var extra []string
	for _, a := range p.accounts {
		for m := range a.ModelMap {
			if !seen[m] && a.Platform == "anthropic" {
				seen[m] = true
				extra = append(extra, m)
			}
		}
	}
	sort.Strings(extra)
	ids = append(ids, extra...)
	b := []byte(`{"data":[`)
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
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
