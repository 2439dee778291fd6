package sched

import (
	"errors"
	"testing"
	"time"
)

func TestModelPlatform(t *testing.T) {
	tests := []struct{ model, want string }{
		{"claude-sonnet-4-5", "anthropic"},
		{"Claude-Opus-5", "anthropic"},
		{"claude-opus-4-6[1m]", "anthropic"},
		{"gpt-5-codex", "openai"},
		{"gpt-5.5", "openai"},
		{"o3", "openai"},
		{"o4-mini", "openai"},
		{"codex-mini-latest", "openai"},
		{"chatgpt-4o-latest", "openai"},
		{"gemini-2.5-pro", "gemini"},
		{"models/gemini-3-pro-preview", "gemini"},
		{"glm-4.6", ""},
		{"deepseek-chat", ""},
		{"opus", ""},
		{"o", ""},
		{"omni", ""},
		{"claude", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ModelPlatform(tt.model); got != tt.want {
			t.Errorf("ModelPlatform(%q) = %q, want %q", tt.model, got, tt.want)
		}
	}
}

func TestRoute(t *testing.T) {
	claude := Account{Name: "claude", Platform: "anthropic"}
	codex := Account{Name: "codex", Platform: "openai", Type: "oauth"}
	aliased := Account{Name: "aliased", Platform: "openai", ModelMap: map[string]string{"claude-sonnet-4-5": "gpt-5-codex", "fast": "glm-4.6"}}
	compat := Account{Name: "compat", Platform: "anthropic", Models: []string{"gpt-5*", "glm-*"}}
	gemini := Account{Name: "gemini", Platform: "gemini", ModelMap: map[string]string{"claude-opus-5": "gemini-3-pro-preview"}, Models: []string{"gemini-3-*"}}
	tests := []struct {
		name      string
		a         Account
		platform  string
		model     string
		translate bool
		up        string
		want      Reach
	}{
		{"own family, own client", claude, "anthropic", "claude-opus-5", false, "claude-opus-5", Native},
		{"own family, other client", claude, "openai", "claude-opus-5", true, "claude-opus-5", Translated},
		{"other client, translation off", claude, "openai", "claude-opus-5", false, "", Unreachable},
		{"another family's model", claude, "anthropic", "gpt-5-codex", true, "", Unreachable},
		{"unclaimed model, own client", claude, "anthropic", "glm-4.6", false, "glm-4.6", Native},
		{"unclaimed model, other client", claude, "openai", "glm-4.6", true, "", Unreachable},
		{"codex serves gpt for an anthropic client", codex, "anthropic", "gpt-5-codex", true, "gpt-5-codex", Translated},
		{"codex refuses claude without an alias", codex, "anthropic", "claude-sonnet-4-5", true, "", Unreachable},
		{"alias across families", aliased, "anthropic", "claude-sonnet-4-5", true, "gpt-5-codex", Translated},
		{"alias to an unclaimed name", aliased, "anthropic", "fast", true, "glm-4.6", Translated},
		{"alias still needs translation allowed", aliased, "anthropic", "claude-sonnet-4-5", false, "", Unreachable},
		{"allow-list claims a foreign name", compat, "anthropic", "gpt-5.5", false, "gpt-5.5", Native},
		{"allow-list refuses its own family", compat, "anthropic", "claude-opus-5", false, "", Unreachable},
		{"allow-list judges the alias target", gemini, "anthropic", "claude-opus-5", true, "gemini-3-pro-preview", Translated},
		{"allow-list refuses outside it", gemini, "gemini", "gemini-2.5-pro", false, "", Unreachable},
		{"chat client on codex is native to sched", codex, "openai", "gpt-5-codex", false, "gpt-5-codex", Native},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, how := tt.a.Route(tt.platform, tt.model, tt.translate)
			if how != tt.want {
				t.Fatalf("Route reach = %v, want %v", how, tt.want)
			}
			if how != Unreachable && up != tt.up {
				t.Fatalf("Route upstream = %q, want %q", up, tt.up)
			}
			// The scheduler's cached path decides the same.
			a := &account{Account: tt.a}
			r := Request{Platform: tt.platform, Model: tt.model, Translate: tt.translate}
			for range 2 { // the second pass reads the cache
				if _, got := a.route(&r); got != tt.want {
					t.Fatalf("account.route reach = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestCandidatesByReach: accounts of the client's family win; accounts
// that translate serve only when none of the family can, and never when
// the request may not be translated.
func TestCandidatesByReach(t *testing.T) {
	claude := acct("claude")
	claude.Priority = 20 // priority ranks within a reach, not across
	codex := acct("codex")
	codex.Platform = "openai"
	codex.ModelMap = map[string]string{"claude-sonnet-4-5": "gpt-5-codex"}
	gem := acct("gem")
	gem.Platform = "gemini"
	gem.ModelMap = map[string]string{"claude-sonnet-4-5": "gemini-2.5-pro"}
	gem.Priority = -1
	pool := []Account{claude, codex, gem}
	anth := func(translate bool, exclude ...string) Request {
		return Request{Group: "g", Platform: "anthropic", Model: "claude-sonnet-4-5", Translate: translate, Exclude: exclude}
	}
	tests := []struct {
		name string
		r    Request
		want string
		up   string
		err  error
	}{
		{"native first whatever the priority", anth(true), "claude", "claude-sonnet-4-5", nil},
		{"translated when the family is gone", anth(true, "claude"), "gem", "gemini-2.5-pro", nil},
		{"then by priority among translated", anth(true, "claude", "gem"), "codex", "gpt-5-codex", nil},
		{"no translation: only the family", anth(false, "claude"), "", "", ErrNoAccount},
		{"openai client's own model", Request{Group: "g", Platform: "openai", Model: "gpt-5-codex"}, "codex", "gpt-5-codex", nil},
		{"a gemini client's own alias is native", Request{Group: "g", Platform: "gemini", Model: "claude-sonnet-4-5", Translate: true}, "gem", "gemini-2.5-pro", nil},
		{"gemini client on claude", Request{Group: "g", Platform: "gemini", Model: "claude-sonnet-4-5", Translate: true, Exclude: []string{"gem", "codex"}}, "claude", "claude-sonnet-4-5", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustNew(t, Config{Accounts: pool})
			l, err := s.Acquire(t.Context(), tt.r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Acquire error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			defer l.Release(Outcome{})
			if got, want := l.Account().Name, tt.want; got != want {
				t.Fatalf("account = %q, want %q", got, want)
			}
			if got, want := l.UpstreamModel(), tt.up; got != want {
				t.Fatalf("upstream model = %q, want %q", got, want)
			}
		})
	}
}

// TestBusyFamilyIsWaitedOn: a busy account of the client's family is
// waited on rather than replaced by a free one that would translate, and
// a session bound to a translated account goes home once its family can
// serve again.
func TestBusyFamilyIsWaitedOn(t *testing.T) {
	claude := acct("claude")
	codex := acct("codex")
	codex.Platform = "openai"
	codex.ModelMap = map[string]string{"claude-sonnet-4-5": "gpt-5-codex"}
	s, clk := mustNew(t, Config{Accounts: []Account{claude, codex}})
	r := Request{Group: "g", Platform: "anthropic", Model: "claude-sonnet-4-5", Translate: true}

	held := mustAcquire(t, s, r)
	if got := held.Account().Name; got != "claude" {
		t.Fatalf("first lease on %q, want claude", got)
	}
	ch := goAcquire(t.Context(), s, r)
	waiting(t, s, 1) // queued on claude although codex is free
	held.Release(Outcome{})
	res := recv(t, ch)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := res.l.Account().Name; got != "claude" {
		t.Fatalf("the waiter got %q, want claude (waited on its family)", got)
	}
	res.l.Release(Outcome{})

	// claude cools down: a session moves to codex and binds there...
	sess := r
	sess.Session = "s1"
	l := mustAcquire(t, s, sess)
	l.Release(Outcome{Kind: RateLimited, ResetAt: clk.Now().Add(time.Minute)})
	l = mustAcquire(t, s, sess)
	if got := l.Account().Name; got != "codex" {
		t.Fatalf("while claude rests: %q, want codex", got)
	}
	l.Release(Outcome{Kind: Success})
	// ...and comes back once claude can serve again.
	clk.Advance(2 * time.Minute)
	l = mustAcquire(t, s, sess)
	defer l.Release(Outcome{})
	if got := l.Account().Name; got != "claude" {
		t.Fatalf("after the rest: %q, want claude", got)
	}
}

// TestStealKeepsReach: a slot freed on an account that would translate
// is not handed to a waiter queued on its own family; a slot of the
// family is handed to a waiter queued on a translating account.
func TestStealKeepsReach(t *testing.T) {
	claude := acct("claude")
	codex := acct("codex")
	codex.Platform = "openai"
	codex.ModelMap = map[string]string{"claude-sonnet-4-5": "gpt-5-codex"}
	s, _ := mustNew(t, Config{Accounts: []Account{claude, codex}})
	r := Request{Group: "g", Platform: "anthropic", Model: "claude-sonnet-4-5", Translate: true}
	onCodex := mustAcquire(t, s, Request{Group: "g", Platform: "openai", Model: "gpt-5-codex"})
	onClaude := mustAcquire(t, s, r)

	ch := goAcquire(t.Context(), s, r)
	waiting(t, s, 1)
	onCodex.Release(Outcome{}) // codex frees a slot: not for a waiter of claude
	if _, w := s.Stats(); w != 1 {
		t.Fatalf("%d waiting after codex freed a slot, want 1: it took claude's waiter", w)
	}
	onClaude.Release(Outcome{})
	res := recv(t, ch)
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.l.Release(Outcome{})
	if got := res.l.Account().Name; got != "claude" {
		t.Fatalf("the waiter got %q, want claude", got)
	}
}

// TestFamilyStealsFromTranslated: a waiter queued on a translating
// account (its family was resting when it came) is handed the first slot
// its family frees.
func TestFamilyStealsFromTranslated(t *testing.T) {
	claude := acct("claude")
	claude.Concurrency = 2
	codex := acct("codex")
	codex.Platform = "openai"
	codex.ModelMap = map[string]string{"claude-sonnet-4-5": "gpt-5-codex"}
	s, clk := mustNew(t, Config{Accounts: []Account{claude, codex}})
	r := Request{Group: "g", Platform: "anthropic", Model: "claude-sonnet-4-5", Translate: true}
	l1, l2 := mustAcquire(t, s, r), mustAcquire(t, s, r)
	l2.Release(Outcome{Kind: RateLimited, ResetAt: clk.Now().Add(time.Minute)})
	onCodex := mustAcquire(t, s, Request{Group: "g", Platform: "openai", Model: "gpt-5-codex"})
	defer onCodex.Release(Outcome{})

	ch := goAcquire(t.Context(), s, r)
	waiting(t, s, 1) // on codex: claude rests
	clk.Advance(2 * time.Minute)
	l1.Release(Outcome{})
	if _, w := s.Stats(); w != 0 {
		t.Fatalf("%d waiting after claude freed a slot, want 0", w)
	}
	res := recv(t, ch)
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.l.Release(Outcome{})
	if got := res.l.Account().Name; got != "claude" {
		t.Fatalf("the waiter got %q, want claude", got)
	}
}
