package errrules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Action is what a matching rule does with an upstream error reply.
type Action string

// Actions.
const (
	// ActionPass returns the upstream status and body to the client
	// unchanged and does not count the reply against the account.
	ActionPass Action = "pass"
	// ActionRewrite answers the client with RewriteStatus and Message, in
	// the protocol's own error shape, and does not count the reply against
	// the account.
	ActionRewrite Action = "rewrite"
	// ActionBench takes the account out of rotation (see Rule.Cooldown)
	// and fails the request over to another account.
	ActionBench Action = "bench"
	// ActionIgnoreForHealth does what the built-in table does with the
	// reply (relay or fail over) but never penalises the account.
	ActionIgnoreForHealth Action = "ignore_for_health"
)

// Cooldown keywords of a bench rule; anything else is a Go duration.
const (
	// CooldownReset benches until the reset the upstream gave (429
	// headers, Codex resets_at, Gemini RetryInfo), or for the scheduler's
	// rate-limit default when it gave none. It is what an empty Cooldown
	// means.
	CooldownReset = "reset"
	// CooldownError puts the account in the error state, which only an
	// admin clears.
	CooldownError = "error"
)

// Limits on what a rule may hold: rules come from an admin, but they are
// matched against every upstream error and shown in the UI.
const (
	maxPattern  = 1024
	maxMessage  = 1024
	maxName     = 64
	maxStatuses = 32
	maxCooldown = 7 * 24 * time.Hour
)

// Rule is one [[error_rules]] entry of the config file:
//
//	[[error_rules]]
//	name = "opus-weekly"        # optional, shown in reasons and logs
//	platform = "anthropic"      # optional: anthropic | openai | gemini
//	account_type = "oauth"      # optional: api_key | oauth | setup_token
//	status = [429]              # optional: a number or a list
//	contains = "weekly limit"   # optional, case-insensitive substring of the body
//	regex = "opus.*limit"       # optional RE2 regexp on the body
//	action = "bench"            # pass | rewrite | bench | ignore_for_health
//	cooldown = "2h"             # bench: a duration, "reset" (default) or "error"
//	rewrite_status = 503        # rewrite: the status the client sees
//	message = "try later"       # rewrite: the message the client sees
//
// Every matcher given must match (an unset one matches anything); at least
// one of status, contains and regex is required. The body matchers see the
// first MaxInspect bytes of the body only.
type Rule struct {
	Name          string   `toml:"name" json:"name,omitempty"`
	Platform      string   `toml:"platform" json:"platform,omitempty"`
	AccountType   string   `toml:"account_type" json:"account_type,omitempty"`
	Status        Statuses `toml:"status" json:"status,omitempty"`
	Contains      string   `toml:"contains" json:"contains,omitempty"`
	Regex         string   `toml:"regex" json:"regex,omitempty"`
	Action        Action   `toml:"action" json:"action"`
	Cooldown      string   `toml:"cooldown" json:"cooldown,omitempty"`
	RewriteStatus int      `toml:"rewrite_status" json:"rewrite_status,omitempty"`
	Message       string   `toml:"message" json:"message,omitempty"`
}

// Statuses is a rule's status matcher: TOML accepts one number
// (status = 403) or a list (status = [500, 502]).
type Statuses []int

// UnmarshalTOML implements toml.Unmarshaler.
func (s *Statuses) UnmarshalTOML(v any) error {
	num := func(x any) (int, error) {
		n, ok := x.(int64)
		if !ok {
			return 0, fmt.Errorf("status must be a number or a list of numbers, got %T", x)
		}
		return int(n), nil
	}
	switch v := v.(type) {
	case []any:
		out := make(Statuses, 0, len(v))
		for _, x := range v {
			n, err := num(x)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		*s = out
	default:
		n, err := num(v)
		if err != nil {
			return err
		}
		*s = Statuses{n}
	}
	return nil
}

// Validate checks every rule and returns the problems joined, each naming
// the TOML key (error_rules[i].field).
func Validate(rules []Rule) error {
	var errs []error
	for i, r := range rules {
		err := r.Validate()
		if err == nil {
			continue
		}
		// One line per problem, each naming its rule: a joined error
		// prefixed once would leave the later lines unnamed.
		parts := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			parts = j.Unwrap()
		}
		for _, e := range parts {
			errs = append(errs, fmt.Errorf("error_rules[%d]: %w", i, e))
		}
	}
	return errors.Join(errs...)
}

// Validate checks one rule: known platform, account type and action,
// statuses in range, patterns that compile, and fields that belong to the
// action.
func (r Rule) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(r.Name) > maxName {
		bad("name: longer than %d bytes", maxName)
	}
	switch r.Platform {
	case "", "anthropic", "openai", "gemini":
	default:
		bad("platform: %q is not anthropic, openai or gemini", r.Platform)
	}
	switch r.AccountType {
	case "", "api_key", "oauth", "setup_token":
	default:
		bad("account_type: %q is not api_key, oauth or setup_token", r.AccountType)
	}
	if len(r.Status) > maxStatuses {
		bad("status: more than %d statuses", maxStatuses)
	}
	for _, s := range r.Status {
		if s < 100 || s > 599 {
			bad("status: %d is not an HTTP status", s)
		}
	}
	if len(r.Status) == 0 && r.Contains == "" && r.Regex == "" {
		bad("needs at least one of status, contains and regex")
	}
	if _, err := r.pattern(); err != nil {
		bad("%w", err)
	}
	errs = append(errs, r.validateAction()...)
	return errors.Join(errs...)
}

// validateAction checks the action and the fields only it may use.
func (r Rule) validateAction() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch r.Action {
	case ActionPass, ActionIgnoreForHealth:
	case ActionBench:
		if _, err := parseCooldown(r.Cooldown); err != nil {
			bad("cooldown: %w", err)
		}
	case ActionRewrite:
		if r.RewriteStatus == 0 && r.Message == "" {
			bad("rewrite needs rewrite_status or message")
		}
		if r.RewriteStatus != 0 && (r.RewriteStatus < 400 || r.RewriteStatus > 599) {
			bad("rewrite_status: %d is not an error status (400-599)", r.RewriteStatus)
		}
		if len(r.Message) > maxMessage {
			bad("message: longer than %d bytes", maxMessage)
		}
	case "":
		bad("action: missing (pass, rewrite, bench or ignore_for_health)")
	default:
		bad("action: %q is not pass, rewrite, bench or ignore_for_health", r.Action)
	}
	if r.Action != ActionBench && r.Cooldown != "" {
		bad("cooldown: only for action bench")
	}
	if r.Action != ActionRewrite && (r.RewriteStatus != 0 || r.Message != "") {
		bad("rewrite_status and message: only for action rewrite")
	}
	return errs
}

// pattern compiles the rule's body matchers into one case-insensitive
// regexp for contains and the rule's own for regex; nil when neither is
// set.
func (r Rule) pattern() ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	if r.Contains != "" {
		if len(r.Contains) > maxPattern {
			return nil, fmt.Errorf("contains: longer than %d bytes", maxPattern)
		}
		out = append(out, regexp.MustCompile("(?i)"+regexp.QuoteMeta(r.Contains)))
	}
	if r.Regex != "" {
		if len(r.Regex) > maxPattern {
			return nil, fmt.Errorf("regex: longer than %d bytes", maxPattern)
		}
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			return nil, fmt.Errorf("regex: %w", err)
		}
		out = append(out, re)
	}
	return out, nil
}

// cooldown is a parsed bench duration: zero with untilReset or forever.
type cooldown struct {
	d          time.Duration
	untilReset bool
	forever    bool
}

func parseCooldown(s string) (cooldown, error) {
	switch strings.TrimSpace(s) {
	case "", CooldownReset:
		return cooldown{untilReset: true}, nil
	case CooldownError:
		return cooldown{forever: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return cooldown{}, fmt.Errorf("%q is not a duration, %q or %q", s, CooldownReset, CooldownError)
	}
	if d <= 0 || d > maxCooldown {
		return cooldown{}, fmt.Errorf("%s is not between 0 and %s", d, maxCooldown)
	}
	return cooldown{d: d}, nil
}
