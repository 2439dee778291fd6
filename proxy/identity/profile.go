package identity

import (
	"strconv"
	"strings"
)

// Bounds on learned header values: a key holder controls them, and they
// are kept, persisted and sent on every request of the account.
const (
	maxHeader = 256
	maxToken  = 64
)

// Profile is the set of client headers an account presents upstream. A
// Claude profile fills UserAgent and the Stainless fields; a Codex one
// UserAgent, Originator and Version.
type Profile struct {
	UserAgent      string `json:"user_agent"`
	Lang           string `json:"lang,omitempty"`
	PackageVersion string `json:"package_version,omitempty"`
	OS             string `json:"os,omitempty"`
	Arch           string `json:"arch,omitempty"`
	Runtime        string `json:"runtime,omitempty"`
	RuntimeVersion string `json:"runtime_version,omitempty"`
	Originator     string `json:"originator,omitempty"`
	Version        string `json:"version,omitempty"`
}

// Header is one header the gateway sets on the upstream request.
type Header struct{ Name, Value string }

// builtinClaude is the profile of a masked Claude account before any
// genuine Claude Code was seen on it: Claude Code 2.1.332 on Linux x64,
// as captured from the real client (testdata/claude-code-2.1.332.headers).
var builtinClaude = Profile{
	UserAgent: "claude-cli/2.1.332 (external, cli)", Lang: "js", PackageVersion: "0.128.0",
	OS: "Linux", Arch: "x64", Runtime: "node", RuntimeVersion: "v26.12.1",
}

// builtinCodex is the profile of a masked Codex account before a genuine
// Codex CLI was seen on it: the UA format of codex-rs default_client
// ("{originator}/{version} ({os} {os_version}; {arch}) {terminal}").
var builtinCodex = Profile{
	UserAgent:  "codex_cli_rs/0.169.0 (Ubuntu 24.4.0; x86_64) xterm-256color",
	Originator: "codex_cli_rs", Version: "0.169.0",
}

// version is a parsed X.Y.Z.
type version [3]int

func (v version) newer(than version) bool {
	for i := range v {
		if v[i] != than[i] {
			return v[i] > than[i]
		}
	}
	return false
}

// parseVersion reads "X.Y.Z" at the start of s and returns it with the
// rest of s.
func parseVersion(s string) (version, string, bool) {
	var v version
	for i := range v {
		j := 0
		for j < len(s) && j < 9 && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 {
			return v, s, false
		}
		v[i], _ = strconv.Atoi(s[:j])
		s = s[j:]
		if i < 2 {
			if s == "" || s[0] != '.' {
				return v, s, false
			}
			s = s[1:]
		}
	}
	return v, s, true
}

// claudeVersion parses "claude-cli/X.Y.Z (...)" the way Claude Code
// builds its User-Agent.
func claudeVersion(ua string) (version, bool) {
	rest, ok := strings.CutPrefix(ua, "claude-cli/")
	if !ok {
		return version{}, false
	}
	v, rest, ok := parseVersion(rest)
	return v, ok && strings.HasPrefix(rest, " (") && strings.HasSuffix(rest, ")")
}

// jsonUserIDSince is the first Claude Code that sends metadata.user_id as
// a JSON string (2.1.78; claude-code-hub#939, aibridge#241).
var jsonUserIDSince = version{2, 1, 78}

// claudeFrom builds a Claude profile from a genuine Claude Code request's
// headers, or reports false: the User-Agent must be claude-cli's, x-app
// "cli", and every Stainless header present and a short token.
func claudeFrom(get func(string) string) (Profile, version, bool) {
	ua := get("user-agent")
	v, ok := claudeVersion(ua)
	if !ok || !headerValue(ua) || get("x-app") != "cli" || get("x-stainless-lang") != "js" {
		return Profile{}, v, false
	}
	p := Profile{UserAgent: ua, Lang: "js",
		PackageVersion: get("x-stainless-package-version"), OS: get("x-stainless-os"),
		Arch: get("x-stainless-arch"), Runtime: get("x-stainless-runtime"),
		RuntimeVersion: get("x-stainless-runtime-version")}
	for _, f := range []string{p.PackageVersion, p.OS, p.Arch, p.Runtime, p.RuntimeVersion} {
		if !tokenValue(f) {
			return Profile{}, v, false
		}
	}
	return p, v, true
}

// claudeHeaders are the profile headers of a Claude account, in the order
// Claude Code sends them.
func (p *Profile) claudeHeaders(dst []Header) []Header {
	return append(dst,
		Header{"user-agent", p.UserAgent},
		Header{"x-app", "cli"},
		Header{"x-stainless-arch", p.Arch},
		Header{"x-stainless-lang", p.Lang},
		Header{"x-stainless-os", p.OS},
		Header{"x-stainless-package-version", p.PackageVersion},
		Header{"x-stainless-runtime", p.Runtime},
		Header{"x-stainless-runtime-version", p.RuntimeVersion},
	)
}

// codexUA is a parsed Codex User-Agent: "{originator}/{X.Y.Z}{platform}".
type codexUA struct {
	originator string
	version    version
	ver        string
	platform   string // " (Ubuntu 24.4.0; x86_64) xterm-256color"
}

// parseCodexUA accepts the originators Codex uses (codex_cli_rs,
// codex_exec, codex-tui, codex_vscode…): "codex" and a separator, then
// lowercase letters, digits, '_' and '-'.
func parseCodexUA(ua string) (codexUA, bool) {
	orig, rest, ok := strings.Cut(ua, "/")
	if !ok || len(orig) < 6 || len(orig) > 32 || !strings.HasPrefix(orig, "codex") || (orig[5] != '_' && orig[5] != '-') {
		return codexUA{}, false
	}
	for i := 0; i < len(orig); i++ {
		c := orig[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return codexUA{}, false
		}
	}
	v, platform, ok := parseVersion(rest)
	if !ok || (platform != "" && !strings.HasPrefix(platform, " (")) {
		return codexUA{}, false
	}
	return codexUA{originator: orig, version: v, ver: rest[:len(rest)-len(platform)], platform: platform}, true
}

// codexFrom builds a Codex profile from a genuine Codex CLI request: its
// originator header names the User-Agent's originator.
func codexFrom(get func(string) string) (Profile, codexUA, bool) {
	ua := get("user-agent")
	c, ok := parseCodexUA(ua)
	if !ok || !headerValue(ua) || get("originator") != c.originator {
		return Profile{}, c, false
	}
	return Profile{UserAgent: ua, Originator: c.originator, Version: c.ver}, c, true
}
