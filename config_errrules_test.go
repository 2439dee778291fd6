package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"subgate/proxy/errrules"
)

// TestErrorRulesDecode: [[error_rules]] decodes into errrules.Rule, with a
// status given as one number or a list.
func TestErrorRulesDecode(t *testing.T) {
	cfg := validConfig()
	err := decodeConfig([]byte(`
[[error_rules]]
name = "opus-weekly"
platform = "anthropic"
account_type = "oauth"
status = 429
regex = '(?i)opus'
action = "bench"
cooldown = "2h"

[[error_rules]]
status = [500, 502]
contains = "overloaded"
action = "rewrite"
rewrite_status = 503
message = "try later"
`), &cfg)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := []errrules.Rule{
		{Name: "opus-weekly", Platform: "anthropic", AccountType: "oauth", Status: errrules.Statuses{429},
			Regex: "(?i)opus", Action: errrules.ActionBench, Cooldown: "2h"},
		{Status: errrules.Statuses{500, 502}, Contains: "overloaded", Action: errrules.ActionRewrite,
			RewriteStatus: 503, Message: "try later"},
	}
	if !reflect.DeepEqual(cfg.ErrorRules, want) {
		t.Errorf("rules = %+v, want %+v", cfg.ErrorRules, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := decodeConfig([]byte("[[error_rules]]\nstatus = 403\naction = \"pass\"\nbogus = 1\n"), &cfg); err == nil ||
		!strings.Contains(err.Error(), "error_rules.bogus") {
		t.Errorf("unknown key: err = %v, want it named", err)
	}
}

// TestErrorRulesValidate: every problem of every rule is reported on its
// own line, naming error_rules[i].
func TestErrorRulesValidate(t *testing.T) {
	cfg := validConfig()
	cfg.ErrorRules = []errrules.Rule{
		{Status: errrules.Statuses{429}, Action: errrules.ActionPass},
		{Regex: "(", Action: "drop", Cooldown: "2h"},
		{Action: errrules.ActionBench, Cooldown: "forever"},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate = nil, want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []string{
		"error_rules[1]: regex:",
		"error_rules[1]: action:",
		"error_rules[1]: cooldown: only for action bench",
		"error_rules[2]: needs at least one of status, contains and regex",
		"error_rules[2]: cooldown:",
	} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("no line starting %q in:\n%v", want, err)
		}
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "error_rules[") {
			t.Errorf("line %q does not name its rule", l)
		}
		if strings.HasPrefix(l, "error_rules[0]") {
			t.Errorf("valid rule reported: %q", l)
		}
	}
}

// TestExampleDocumentsErrorRules: config.example.toml's commented
// [[error_rules]] example shows every field of a rule, and nothing else.
func TestExampleDocumentsErrorRules(t *testing.T) {
	text, err := os.ReadFile("config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(text), "# [[error_rules]]")
	if i < 0 {
		t.Fatal("config.example.toml has no [[error_rules]] example")
	}
	example := string(text[i:])
	var fields []string
	rt := reflect.TypeOf(errrules.Rule{})
	for j := range rt.NumField() {
		fields = append(fields, rt.Field(j).Tag.Get("toml"))
	}
	for _, k := range fields {
		if !regexp.MustCompile(`(?m)^#\s*` + regexp.QuoteMeta(k) + `\s*=`).MatchString(example) {
			t.Errorf("config.example.toml does not document error_rules.%s", k)
		}
	}
	// Uncommented, the example must load and validate.
	var toml strings.Builder
	for _, l := range strings.Split(example, "\n") {
		toml.WriteString(strings.TrimPrefix(l, "# ") + "\n")
	}
	cfg := validConfig()
	// cooldown and rewrite fields belong to different actions: the
	// example shows them all, so it validates with action rewrite dropped.
	src := strings.Replace(toml.String(), "rewrite_status = 503", "", 1)
	src = regexp.MustCompile(`(?m)^message = .*$`).ReplaceAllString(src, "")
	if err := decodeConfig([]byte(src), &cfg); err != nil {
		t.Fatalf("example rule: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("example rule: %v", err)
	}
	if len(cfg.ErrorRules) != 1 {
		t.Errorf("example has %d rules", len(cfg.ErrorRules))
	}
}
