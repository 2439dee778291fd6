package errrules

import (
	"regexp"

	"subgate/sched"
)

// credentialDead matches the wording providers use when the credential
// itself, or the account or organization behind it, is no longer usable.
// Each alternative comes from a real reply (testdata/SOURCES.md); the
// generic ones require a subject (key, account, organization…) next to
// the verb, so "thinking is disabled for this model" is not one.
var credentialDead = regexp.MustCompile(`(?i)` +
	// Anthropic
	`invalid x-api-key|organization has been disabled|` +
	`oauth authentication is currently not allowed|oauth token has been revoked|` +
	// OpenAI
	`invalid_api_key|incorrect api key provided|account_deactivated|` +
	// Google (Gemini API, Code Assist)
	`api_key_invalid|api key not valid|api key not found|api key expired|consumer_suspended|` +
	`service_disabled|has been disabled in this account for violation|` +
	// any provider: "<subject> ... has been / was / is <revoked|disabled|...>"
	`\b(?:api[ _-]?key|key|account|organi[sz]ation|consumer|credential|token)\b[^.\n]{0,80}?` +
	`\b(?:has been|have been|was|is)\s+(?:revoked|disabled|deactivated|suspended|banned|terminated)\b`)

// Built-in rule names.
const (
	ruleCredential   = "default:credential"
	ruleRequest      = "default:request"
	ruleAuth         = "default:auth"
	ruleForbiddenKey = "default:forbidden-api-key"
	ruleForbidden    = "default:forbidden"
	ruleRateLimit    = "default:rate-limit"
	ruleOverloaded   = "default:overloaded"
	ruleServer       = "default:server"
)

// defaults is the built-in table, tried after the admin's rules, in order.
// Apart from the first and the api_key 403 rows it is scheduling.md's
// health table exactly as proxy/errors.go classify applied it.
var defaults = []compiled{
	// A dead credential benches the account until an admin looks, whatever
	// the status: Anthropic says "organization has been disabled" with a
	// 400, Google "API key not valid" with a 400.
	{name: ruleCredential, status: []int{400, 401, 403}, patterns: []*regexp.Regexp{credentialDead},
		decide: failover(ruleCredential, sched.AuthFailed)},
	{name: ruleRequest, status: []int{400, 404, 413, 422}, decide: relay(ruleRequest, false)},
	{name: ruleAuth, status: []int{401}, decide: failover(ruleAuth, sched.AuthFailed)},
	// One request cannot bench a pool (issue 13): any other 403 on an API
	// key goes back to the client; only repeats from different client keys
	// count, through Strikes.
	{name: ruleForbiddenKey, accountType: "api_key", status: []int{403}, decide: relay(ruleForbiddenKey, true)},
	{name: ruleForbidden, status: []int{403}, decide: failover(ruleForbidden, sched.Forbidden)},
	{name: ruleRateLimit, status: []int{429}, decide: rateLimited},
	{name: ruleOverloaded, status: []int{529}, decide: failover(ruleOverloaded, sched.Overloaded)},
	{name: ruleServer, decide: serverError},
}

// relay answers the client with the reply, no penalty.
func relay(name string, strike bool) func(*Engine, Reply) Decision {
	return func(_ *Engine, r Reply) Decision {
		return Decision{Rule: name, Relay: true, Status: r.Status, Strike: strike, Class: sched.RequestError,
			Outcome: sched.Outcome{Kind: sched.RequestError, Status: r.Status, Reason: reason(r)}}
	}
}

// failover moves the request to another account and gives this one kind.
func failover(name string, kind sched.Kind) func(*Engine, Reply) Decision {
	return func(_ *Engine, r Reply) Decision {
		return Decision{Rule: name, Status: r.Status, Class: kind,
			Outcome: sched.Outcome{Kind: kind, Status: r.Status, Reason: reason(r)}}
	}
}

// rateLimited rests the account, or only the model family the limit
// covers, until the upstream's reset.
func rateLimited(e *Engine, r Reply) Decision {
	d := failover(ruleRateLimit, sched.RateLimited)(e, r)
	d.Outcome.Scope = r.Scope
	if r.Reset != nil {
		d.Outcome.ResetAt = r.Reset()
	}
	return d
}

// serverError is the catch-all: an overloaded signal, or a server error
// that benches only after repeats.
func serverError(e *Engine, r Reply) Decision {
	if r.Overloaded {
		return failover(ruleOverloaded, sched.Overloaded)(e, r)
	}
	return failover(ruleServer, sched.ServerError)(e, r)
}
