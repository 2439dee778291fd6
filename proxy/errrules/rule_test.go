package errrules

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"subgate/sched"
)

const rulesTOML = `
[[error_rules]]
name = "opus-weekly"
platform = "anthropic"
account_type = "oauth"
status = 429
regex = '(?i)opus.*weekly'
action = "bench"
cooldown = "2h"

[[error_rules]]
name = "country"
platform = "openai"
status = [403, 451]
contains = "UNSUPPORTED_COUNTRY"
action = "rewrite"
rewrite_status = 503
message = "this pool cannot reach OpenAI right now"

[[error_rules]]
name = "quota-probe"
contains = "insufficient_quota"
action = "pass"

[[error_rules]]
name = "flaky"
platform = "gemini"
status = [500]
action = "ignore_for_health"

[[error_rules]]
name = "org-ban"
contains = "until the reset"
action = "bench"
`

func decodeRules(t *testing.T, src string) []Rule {
	t.Helper()
	var cfg struct {
		ErrorRules []Rule `toml:"error_rules"`
	}
	md, err := toml.Decode(src, &cfg)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("undecoded keys %v", und)
	}
	return cfg.ErrorRules
}

func TestRulesTOML(t *testing.T) {
	rules := decodeRules(t, rulesTOML)
	if got, want := len(rules), 5; got != want {
		t.Fatalf("rules = %d, want %d", got, want)
	}
	if got := rules[0].Status; len(got) != 1 || got[0] != 429 {
		t.Errorf("single status = %v, want [429]", got)
	}
	if got := rules[1].Status; len(got) != 2 || got[0] != 403 || got[1] != 451 {
		t.Errorf("status list = %v, want [403 451]", got)
	}
	if err := Validate(rules); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestRuleActions(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	reset := now.Add(3 * time.Hour)
	e := mustEngine(t, Config{Rules: decodeRules(t, rulesTOML), Now: func() time.Time { return now }})
	tests := []struct {
		name    string
		r       Reply
		rule    string
		relay   bool
		status  int
		message string
		kind    sched.Kind
		resetAt time.Time
		class   sched.Kind
	}{
		{"bench for a duration",
			Reply{Platform: "anthropic", AccountType: "oauth", Status: 429, Body: []byte(`{"error":{"message":"Opus weekly limit reached"}}`)},
			"opus-weekly", false, 429, "", sched.RateLimited, now.Add(2 * time.Hour), sched.RateLimited},
		{"bench rule skips another account type",
			Reply{Platform: "anthropic", AccountType: "api_key", Status: 429, Body: []byte(`{"error":{"message":"Opus weekly limit reached"}}`)},
			ruleRateLimit, false, 429, "", sched.RateLimited, time.Time{}, sched.RateLimited},
		{"rewrite",
			Reply{Platform: "openai", AccountType: "api_key", Status: 403, Body: body(t, "openai-403-country.json")},
			"country", true, 503, "this pool cannot reach OpenAI right now", sched.RequestError, time.Time{}, sched.RequestError},
		{"rewrite skips another platform",
			Reply{Platform: "gemini", AccountType: "api_key", Status: 403, Body: body(t, "openai-403-country.json")},
			ruleForbiddenKey, true, 403, "", sched.RequestError, time.Time{}, sched.RequestError},
		{"pass a failover reply",
			Reply{Platform: "openai", AccountType: "api_key", Status: 429, Body: body(t, "openai-429-quota.json")},
			"quota-probe", true, 429, "", sched.RequestError, time.Time{}, sched.RateLimited},
		{"ignore_for_health keeps failover without penalty",
			Reply{Platform: "gemini", AccountType: "api_key", Status: 500, Body: body(t, "gemini-500-internal.json")},
			"flaky", false, 500, "", sched.RequestError, time.Time{}, sched.ServerError},
		{"bench until the upstream's reset",
			Reply{Platform: "openai", AccountType: "oauth", Status: 400, Body: []byte(`wait until the reset`), Reset: func() time.Time { return reset }},
			"org-ban", false, 400, "", sched.RateLimited, reset, sched.RequestError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.r)
			if got, want := d.Rule, tt.rule; got != want {
				t.Errorf("rule = %q, want %q", got, want)
			}
			if got, want := d.Relay, tt.relay; got != want {
				t.Errorf("relay = %v, want %v", got, want)
			}
			if got, want := d.Status, tt.status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := d.Message, tt.message; got != want {
				t.Errorf("message = %q, want %q", got, want)
			}
			if got, want := d.Outcome.Kind, tt.kind; got != want {
				t.Errorf("kind = %v, want %v", got, want)
			}
			if got, want := d.Outcome.ResetAt, tt.resetAt; !got.Equal(want) {
				t.Errorf("reset = %v, want %v", got, want)
			}
			if got, want := d.Class, tt.class; got != want {
				t.Errorf("class = %v, want %v", got, want)
			}
			if d.Action != "" && d.Strike {
				t.Errorf("strike set by an admin rule")
			}
		})
	}
}

func TestFirstMatchWins(t *testing.T) {
	e := mustEngine(t, Config{Rules: []Rule{
		{Name: "a", Status: Statuses{500}, Action: ActionPass},
		{Name: "b", Status: Statuses{500}, Action: ActionBench, Cooldown: CooldownError},
	}})
	d := e.Decide(Reply{Platform: "openai", AccountType: "api_key", Status: 500})
	if got, want := d.Rule, "a"; got != want {
		t.Errorf("rule = %q, want %q", got, want)
	}
	e = mustEngine(t, Config{Rules: []Rule{
		{Status: Statuses{500}, Action: ActionBench, Cooldown: CooldownError},
		{Name: "a", Status: Statuses{500}, Action: ActionPass},
	}})
	d = e.Decide(Reply{Platform: "openai", AccountType: "api_key", Status: 500})
	if got, want := d.Rule, "rule 1"; got != want {
		t.Errorf("rule = %q, want %q", got, want)
	}
	if got, want := d.Outcome.Kind, sched.AuthFailed; got != want {
		t.Errorf("kind = %v, want %v (cooldown error)", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string // substring of the error, "" for valid
	}{
		{"valid", Rule{Status: Statuses{403}, Action: ActionPass}, ""},
		{"no matcher", Rule{Platform: "openai", Action: ActionPass}, "at least one of status"},
		{"bad platform", Rule{Platform: "azure", Status: Statuses{403}, Action: ActionPass}, "platform"},
		{"bad account type", Rule{AccountType: "cookie", Status: Statuses{403}, Action: ActionPass}, "account_type"},
		{"bad status", Rule{Status: Statuses{99}, Action: ActionPass}, "status: 99"},
		{"bad regex", Rule{Regex: "(", Action: ActionPass}, "regex"},
		{"huge regex", Rule{Regex: strings.Repeat("a", maxPattern+1), Action: ActionPass}, "regex: longer"},
		{"no action", Rule{Status: Statuses{500}}, "action: missing"},
		{"bad action", Rule{Status: Statuses{500}, Action: "drop"}, "action"},
		{"bad cooldown", Rule{Status: Statuses{500}, Action: ActionBench, Cooldown: "soon"}, "cooldown"},
		{"negative cooldown", Rule{Status: Statuses{500}, Action: ActionBench, Cooldown: "-1m"}, "cooldown"},
		{"cooldown on pass", Rule{Status: Statuses{500}, Action: ActionPass, Cooldown: "1m"}, "only for action bench"},
		{"empty rewrite", Rule{Status: Statuses{500}, Action: ActionRewrite}, "rewrite needs"},
		{"rewrite to success", Rule{Status: Statuses{500}, Action: ActionRewrite, RewriteStatus: 200}, "rewrite_status"},
		{"message on bench", Rule{Status: Statuses{500}, Action: ActionBench, Message: "x"}, "only for action rewrite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]Rule{tt.rule})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), "error_rules[0]"):
				t.Errorf("Validate = %v, want it to name error_rules[0]", err)
			}
		})
	}
	if _, err := New(Config{Rules: []Rule{{Regex: "("}}}); err == nil {
		t.Error("New accepted an invalid rule")
	}
}

func TestStatusesTOMLRejectsStrings(t *testing.T) {
	var cfg struct {
		ErrorRules []Rule `toml:"error_rules"`
	}
	if _, err := toml.Decode("[[error_rules]]\nstatus = \"403\"\naction = \"pass\"\n", &cfg); err == nil {
		t.Error("a string status decoded")
	}
}

func TestStrikes(t *testing.T) {
	s := NewStrikes(10 * time.Minute)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		acct, key string
		at        time.Duration
		want      bool
	}{
		{"a1", "alice", 0, true},
		{"a1", "alice", time.Minute, false}, // the same key again: no second strike
		{"a1", "alice", 2 * time.Minute, false},
		{"a1", "bob", 3 * time.Minute, true},
		{"a2", "alice", 3 * time.Minute, true},  // per account
		{"a1", "alice", 11 * time.Minute, true}, // window passed
		{"a1", "bob", 12 * time.Minute, false},
	}
	for i, st := range steps {
		if got := s.Count(st.acct, st.key, t0.Add(st.at)); got != st.want {
			t.Errorf("step %d (%s %s +%s): Count = %v, want %v", i, st.acct, st.key, st.at, got, st.want)
		}
	}
	s.Forget("a1")
	if !s.Count("a1", "bob", t0.Add(13*time.Minute)) {
		t.Error("Count after Forget = false, want true")
	}
}

func TestStrikesBounded(t *testing.T) {
	s := NewStrikes(time.Hour)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		s.Count("a1", "key"+strings.Repeat("x", i%50)+string(rune('a'+i%26)), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if got := len(s.byAcct["a1"]); got > maxStrikes {
		t.Errorf("kept %d strikes, want at most %d", got, maxStrikes)
	}
}
