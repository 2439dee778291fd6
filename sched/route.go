package sched

import (
	"path"
	"strings"
)

// Which accounts can serve a model. A group may hold accounts of several
// platforms, and the gateway translates between their API families, so
// the platform of the request's client no longer decides alone: the model
// does. The rule is pure (Route, ModelPlatform) and the scheduler applies
// it per candidate, then keeps the best reach only (candidates in
// select.go): an account of the client's own family, which needs no
// translation, always wins over one that would translate.

// Reach is how an account can take a request's model.
type Reach uint8

// Reaches, best first.
const (
	// Unreachable: the account cannot serve the model for this client.
	Unreachable Reach = iota
	// Native: the account is of the client's platform; the request passes
	// through.
	Native
	// Translated: the account is of another platform; the gateway
	// translates the request and its reply (Request.Translate allows it).
	Translated
)

func (r Reach) String() string {
	switch r {
	case Native:
		return "native"
	case Translated:
		return "translated"
	}
	return "unreachable"
}

// ModelPlatform returns the platform whose accounts offer model by its
// name: "anthropic" for claude-*, "openai" for gpt-*, o<digit>*, codex-*
// and chatgpt-*, "gemini" for gemini-* (a "models/" prefix ignored);
// letters compare without case. It returns "" for a name no family
// claims (a compatible upstream's own model, such as glm-4.6), which
// only the client's own platform serves. It allocates nothing.
func ModelPlatform(model string) string {
	m := model
	if hasPrefixFold(m, "models/") {
		m = m[len("models/"):]
	}
	switch {
	case hasPrefixFold(m, "claude-"):
		return "anthropic"
	case hasPrefixFold(m, "gpt-"), hasPrefixFold(m, "codex-"), hasPrefixFold(m, "chatgpt-"),
		len(m) >= 2 && (m[0] == 'o' || m[0] == 'O') && m[1] >= '0' && m[1] <= '9':
		return "openai"
	case hasPrefixFold(m, "gemini-"):
		return "gemini"
	}
	return ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Route reports whether and how a can serve model for a client of
// platform, and the upstream model (model after a's ModelMap). The rule:
//
//   - An account of another platform serves only when translate is set
//     (the key and its group allow translation), as Translated.
//   - A ModelMap entry for the model is an alias the admin made: the
//     account serves it (its allow-list, if any, still has the last word
//     over the upstream name).
//   - An account with a Models allow-list serves exactly the upstream
//     names the list matches, whatever their family.
//   - Otherwise an account serves the models its platform offers
//     (ModelPlatform), and a model no family claims when the client is of
//     its own platform (today's compatible upstreams).
func (a *Account) Route(platform, model string, translate bool) (upstream string, how Reach) {
	up, mapped := model, false
	if u, ok := a.ModelMap[model]; ok {
		up, mapped = u, true
	}
	allowed := len(a.Models) == 0
	for _, g := range a.Models {
		if hit, _ := path.Match(g, up); hit {
			allowed = true
			break
		}
	}
	return up, a.reach(up, mapped, allowed, platform, translate)
}

// reach is Route's rule once the model is mapped and matched against
// the allow-list; the scheduler calls it with its cached verdicts.
func (a *Account) reach(up string, mapped, allowed bool, platform string, translate bool) Reach {
	if !allowed {
		return Unreachable
	}
	how := Native
	if a.Platform != platform {
		if !translate {
			return Unreachable
		}
		how = Translated
	}
	if mapped || len(a.Models) > 0 {
		return how
	}
	switch owner := ModelPlatform(up); {
	case owner == a.Platform, owner == "" && how == Native:
		return how
	}
	return Unreachable
}
