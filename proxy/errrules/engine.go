package errrules

import (
	"regexp"
	"slices"
	"strconv"
	"time"

	"subgate/sched"
)

// MaxInspect is how much of an upstream error body the rules look at: a
// provider's error JSON is far smaller, and a bound keeps a hostile or
// broken upstream from making every match scan megabytes.
const MaxInspect = 64 << 10

// maxType bounds the upstream error type kept in a reason.
const maxType = 64

// Config configures New.
type Config struct {
	// Rules are the admin's [[error_rules]], tried in order before the
	// built-in defaults.
	Rules []Rule
	// Now is the clock for fixed bench cooldowns; nil means time.Now.
	Now func() time.Time
}

// Reply is what the engine needs to know about one non-2xx upstream reply.
// The protocol fills it from the reply (proxy's Classify methods).
type Reply struct {
	Platform    string // anthropic | openai | gemini
	AccountType string // api_key | oauth | setup_token
	Status      int
	// Body is the upstream body as read (the engine looks at MaxInspect
	// bytes of it); it is not kept.
	Body []byte
	// Type is the upstream's error type or status name (Anthropic and
	// OpenAI error.type, Gemini error.status), kept in the reason.
	Type string
	// Overloaded is the protocol's own "overloaded" signal beside 529
	// (Anthropic overloaded_error, OpenAI and Gemini 503).
	Overloaded bool
	// Reset, when non-nil, says when a rate limit ends (zero when the
	// upstream did not say). It is called only when a decision needs it.
	Reset func() time.Time
	// Scope names the model family a rate limit covers (sched.Family's
	// names: a weekly Opus window, a Codex or Gemini per-model quota); ""
	// is the whole account. A decision that rests the account until the
	// upstream's reset rests only that family (Outcome.Scope).
	Scope string
}

// Decision is what to do with a reply: answer the client with it or fail
// over, and what the account's lease is released with.
type Decision struct {
	// Rule names the rule that decided: an admin rule's name (or "rule N",
	// 1-based) or a built-in "default:..." one.
	Rule   string
	Action Action // the admin rule's action; "" for a built-in rule
	// Relay: answer the client now and do not fail over. The client sees
	// Status with the upstream body, or with Message in the protocol's
	// error shape when Message is set (a rewrite).
	Relay   bool
	Status  int
	Message string
	// Outcome releases the lease. Kind RequestError means no penalty.
	Outcome sched.Outcome
	// Class is the kind the built-in table gives the reply whatever the
	// rule did to Outcome; the loop uses it for the client's error when
	// every account failed (scheduling.md, client errors).
	Class sched.Kind
	// Strike marks a reply that must not bench the account by itself but
	// may after repeats from different client keys (the api_key 403
	// contract): the gateway asks Strikes.Count and, when it says yes,
	// releases with Kind ServerError instead of Outcome.Kind.
	Strike bool
}

// Engine decides what an upstream error means, first matching rule wins:
// the admin's rules, then the built-in defaults (today's table of
// scheduling.md plus the credential rules). It is immutable and safe for
// concurrent use.
type Engine struct {
	rules []compiled
	now   func() time.Time
}

// compiled is a rule ready to match.
type compiled struct {
	name        string
	platform    string
	accountType string
	status      []int
	patterns    []*regexp.Regexp
	decide      func(e *Engine, r Reply) Decision
}

// New compiles cfg.Rules (each regexp once) after the checks of Validate.
func New(cfg Config) (*Engine, error) {
	if err := Validate(cfg.Rules); err != nil {
		return nil, err
	}
	e := &Engine{now: cfg.Now}
	if e.now == nil {
		e.now = time.Now
	}
	for i, r := range cfg.Rules {
		pats, _ := r.pattern() // Validate compiled them already
		name := r.Name
		if name == "" {
			name = "rule " + strconv.Itoa(i+1)
		}
		e.rules = append(e.rules, compiled{
			name: name, platform: r.Platform, accountType: r.AccountType,
			status: slices.Clone(r.Status), patterns: pats, decide: adminDecision(name, r),
		})
	}
	e.rules = append(e.rules, defaults...)
	return e, nil
}

// Decide returns the decision of the first rule that matches r. The
// built-in catch-all guarantees one does.
func (e *Engine) Decide(r Reply) Decision {
	body := r.Body
	if len(body) > MaxInspect {
		body = body[:MaxInspect]
	}
	for i := range e.rules {
		if c := &e.rules[i]; c.match(r, body) {
			return c.decide(e, r)
		}
	}
	return serverError(e, r) // unreachable: the last default matches all
}

func (c *compiled) match(r Reply, body []byte) bool {
	if c.platform != "" && c.platform != r.Platform {
		return false
	}
	if c.accountType != "" && c.accountType != r.AccountType {
		return false
	}
	if len(c.status) > 0 && !slices.Contains(c.status, r.Status) {
		return false
	}
	for _, p := range c.patterns {
		if !p.Match(body) {
			return false
		}
	}
	return true
}

// table is the built-in decision for r: the defaults alone.
func (e *Engine) table(r Reply) Decision {
	body := r.Body
	if len(body) > MaxInspect {
		body = body[:MaxInspect]
	}
	for i := range defaults {
		if c := &defaults[i]; c.match(r, body) {
			return c.decide(e, r)
		}
	}
	return serverError(e, r)
}

// adminDecision turns an admin rule's action into its decision function.
func adminDecision(name string, r Rule) func(e *Engine, rep Reply) Decision {
	cd, _ := parseCooldown(r.Cooldown) // Validate parsed it already
	return func(e *Engine, rep Reply) Decision {
		def := e.table(rep)
		d := Decision{Rule: name, Action: r.Action, Class: def.Class, Status: rep.Status}
		d.Outcome = sched.Outcome{Kind: sched.RequestError, Status: rep.Status,
			Reason: reason(rep) + " (rule " + strconv.Quote(name) + ")"}
		switch r.Action {
		case ActionPass:
			d.Relay = true
		case ActionRewrite:
			d.Relay = true
			if r.RewriteStatus != 0 {
				d.Status = r.RewriteStatus
			}
			d.Message = r.Message
			if d.Message == "" {
				d.Message = "upstream error " + strconv.Itoa(rep.Status)
			}
		case ActionBench:
			switch {
			case cd.forever:
				d.Outcome.Kind = sched.AuthFailed
			case cd.untilReset:
				d.Outcome.Kind = sched.RateLimited
				d.Outcome.Scope = rep.Scope
				if rep.Reset != nil {
					d.Outcome.ResetAt = rep.Reset()
				}
			default:
				d.Outcome.Kind = sched.RateLimited
				d.Outcome.ResetAt = e.now().Add(cd.d)
			}
		case ActionIgnoreForHealth:
			d.Relay, d.Status = def.Relay, def.Status
		}
		return d
	}
}

// reason is the safe account-health reason of a reply: its status and the
// upstream's error type, never message text.
func reason(r Reply) string {
	typ := r.Type
	if len(typ) > maxType {
		typ = typ[:maxType]
	}
	return "upstream " + strconv.Itoa(r.Status) + " " + typ
}
