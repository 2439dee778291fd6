package proxy

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/tidwall/gjson"

	"subgate/proxy/protocol"
	"subgate/sched"
)

func TestReachable(t *testing.T) {
	claude := apiAccount("claude", "k1")
	codex := aliased(codexAccount("codex", "tok", ""), map[string]string{"claude-sonnet-4-5": "gpt-5-codex"})
	gem := geminiKey("gem", "AIza")
	gem.Models = []string{"gemini-2.5-*", "gemini-exp-1"}
	other := openaiKey("other", "sk")
	other.Group = "elsewhere"
	compat := apiAccount("compat", "k2")
	compat.Group = "compat"
	compat.Models = []string{"glm-4.6", "claude-opus-5*"}
	pool := newPool([]Account{claude, codex, gem, other, compat}, nil, nil)

	claudes := protocol.ClaudeModels
	tests := []struct {
		name     string
		key      Key
		platform string
		want     []string
	}{
		{"anthropic client, no translation: claude's models", Key{Group: "default"}, "anthropic", claudes},
		{"anthropic client, translation: every family, then the alias", Key{Group: "default", Translate: true}, "anthropic",
			concat(claudes, protocol.OpenAIModels, []string{"gemini-2.5-pro", "gemini-2.5-flash", "claude-sonnet-4-5", "gemini-exp-1"})},
		{"openai client, no translation: codex's models and its alias", Key{Group: "default"}, "openai",
			concat(protocol.OpenAIModels, []string{"claude-sonnet-4-5"})},
		{"gemini client, no translation: the allow-list's names", Key{Group: "default"}, "gemini", []string{"gemini-2.5-pro", "gemini-2.5-flash", "gemini-exp-1"}},
		{"the key's allow-list filters", Key{Group: "default", Translate: true, Models: []string{"claude-sonnet-*"}}, "openai",
			[]string{"claude-sonnet-5-5", "claude-sonnet-5", "claude-sonnet-4-6", "claude-sonnet-4-5"}},
		{"an allow-list of a compatible upstream", Key{Group: "compat"}, "anthropic", []string{"claude-opus-5-5", "claude-opus-5", "glm-4.6"}},
		{"no account in the group", Key{Group: "none", Translate: true}, "anthropic", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reachable(pool, &tt.key, tt.platform); !slices.Equal(got, tt.want) {
				t.Fatalf("reachable =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// TestReachableIsServed: every model a listing offers is one the
// scheduler routes to an account (no listing of a model that fails).
func TestReachableIsServed(t *testing.T) {
	claude := apiAccount("claude", "k1")
	codex := aliased(codexAccount("codex", "tok", ""), map[string]string{"claude-sonnet-4-5": "gpt-5-codex", "fast": "gpt-5-mini"})
	gem := geminiKey("gem", "AIza")
	accts := []Account{claude, codex, gem}
	s, err := sched.New(sched.Config{Accounts: schedAccounts(accts)})
	if err != nil {
		t.Fatal(err)
	}
	pool := newPool(accts, nil, nil)
	for _, translate := range []bool{false, true} {
		k := &Key{Group: "default", Translate: translate}
		for _, plat := range listPlatforms {
			for _, m := range reachable(pool, k, plat) {
				l, err := s.Acquire(context.Background(), sched.Request{Group: "default", Platform: plat, Model: m, Translate: translate})
				if err != nil {
					t.Errorf("%s client (translate %v): %s is listed but %v", plat, translate, m, err)
					continue
				}
				l.Release(sched.Outcome{})
			}
		}
	}
}

func TestDisplayName(t *testing.T) {
	for id, want := range map[string]string{
		"claude-opus-4-6":            "Claude Opus 4.6",
		"claude-opus-5":              "Claude Opus 5",
		"claude-haiku-5-5":           "Claude Haiku 5.5",
		"claude-sonnet-4-5-20250929": "claude-sonnet-4-5-20250929",
		"gpt-5.5":                    "gpt-5.5",
		"claude-":                    "claude-",
	} {
		if got := protocol.DisplayName(id); got != want {
			t.Errorf("DisplayName(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestModelListings: each family's listing in its own shape, read by the
// official SDKs, for a group of one Codex account with a Claude alias.
func TestModelListings(t *testing.T) {
	codex := aliased(codexAccount("cx", "tok", ""), map[string]string{"claude-sonnet-4-5": "gpt-5-codex", "claude-opus-5": "gpt-5.5"})
	h := newHarness(t, []Account{codex}, translating)
	ctx := context.Background()

	// Claude Code's gateway discovery: GET /v1/models?limit=1000 with
	// its credential and anthropic-version; it keeps the claude ids.
	for _, auth := range [][2]string{{"x-api-key", testKey}, {"authorization", "Bearer " + testKey}} {
		req, _ := http.NewRequest("GET", h.url+"/v1/models?limit=1000", nil)
		req.Header.Set(auth[0], auth[1])
		req.Header.Set("anthropic-version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ids []string
		for _, m := range gjson.GetBytes(b, "data").Array() {
			if id := m.Get("id").String(); strings.Contains(id, "claude") {
				ids = append(ids, id)
			}
		}
		if resp.StatusCode != 200 || !slices.Contains(ids, "claude-sonnet-4-5") || !slices.Contains(ids, "claude-opus-5") ||
			gjson.GetBytes(b, "has_more").Bool() {
			t.Fatalf("%s: %d %s", auth[0], resp.StatusCode, b)
		}
	}

	var ant []string
	iter := sdkClient(h).Models.ListAutoPaging(ctx, anthropic.ModelListParams{})
	for iter.Next() {
		ant = append(ant, iter.Current().ID)
	}
	if err := iter.Err(); err != nil || !slices.Contains(ant, "claude-opus-5") || !slices.Contains(ant, "gpt-5.5") {
		t.Fatalf("anthropic SDK: %v %v", ant, err)
	}

	page, err := openaiClient(h).Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var oa []string
	for _, m := range page.Data {
		oa = append(oa, m.ID)
	}
	if !slices.Contains(oa, "gpt-5-codex") || !slices.Contains(oa, "claude-sonnet-4-5") {
		t.Fatalf("openai SDK: %v", oa)
	}

	gc := genaiClient(t, h)
	var gm []string
	for m, err := range gc.Models.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		gm = append(gm, m.Name)
	}
	if !slices.Contains(gm, "models/claude-opus-5") || !slices.Contains(gm, "models/gpt-5.5") {
		t.Fatalf("genai: %v", gm)
	}
}

// TestModelListingRefusesUnusableKeys: a disabled key lists nothing.
func TestModelListingRefusesUnusableKeys(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, func(c *Config, _ *sched.Config) { c.Keys[0].Disabled = true })
	req, _ := http.NewRequest("GET", h.url+"/v1/models", nil)
	req.Header.Set("x-api-key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
