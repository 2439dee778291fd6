package identity

import (
	"errors"
	"fmt"
	"strings"
)

// Mode says whether an account's requests carry the account's own
// identity (mask) or the client's (passthrough).
type Mode string

// Modes.
const (
	ModeMask        Mode = "mask"
	ModePassthrough Mode = "passthrough"
)

// DefaultMode is the mode of an account whose config names none: mask for
// subscription logins (oauth, setup_token), where the provider expects
// one person's device, passthrough for API keys, which are meant to be
// shared by many programs.
func DefaultMode(accountType string) Mode {
	switch accountType {
	case "oauth", "setup_token":
		return ModeMask
	}
	return ModePassthrough
}

// ParseMode resolves an account's `identity` setting: "" is DefaultMode.
func ParseMode(s, accountType string) (Mode, error) {
	switch Mode(s) {
	case "":
		return DefaultMode(accountType), nil
	case ModeMask, ModePassthrough:
		return Mode(s), nil
	}
	return "", fmt.Errorf("identity: %q is not mask or passthrough", s)
}

// ProfileConfig is an account's `identity_profile` table: it pins the
// header profile instead of learning it.
//
//	[accounts.identity_profile]
//	user_agent = "claude-cli/2.1.332 (external, cli)"  # pins the profile; no learning
//	os = "MacOS"                   # Claude: x-stainless-os; pins the OS even when learning
//	arch = "arm64"                 # Claude: x-stainless-arch; likewise
//	package_version = "0.128.0"    # Claude: x-stainless-package-version
//	runtime_version = "v26.12.1"   # Claude: x-stainless-runtime-version
//
// For a Codex account user_agent is Codex's, e.g. "codex_cli_rs/0.169.0
// (Ubuntu 24.4.0; x86_64) xterm-256color"; originator and version are
// read from it. Empty fields come from the built-in profile (or, for os
// and arch while learning, from the first genuine client seen).
type ProfileConfig struct {
	UserAgent      string `toml:"user_agent" json:"user_agent,omitempty"`
	OS             string `toml:"os" json:"os,omitempty"`
	Arch           string `toml:"arch" json:"arch,omitempty"`
	PackageVersion string `toml:"package_version" json:"package_version,omitempty"`
	RuntimeVersion string `toml:"runtime_version" json:"runtime_version,omitempty"`
}

// Pinned reports whether the profile is fixed by config.
func (c ProfileConfig) Pinned() bool { return c.UserAgent != "" }

// Validate checks the table for an account of platform ("anthropic" or
// "openai"; Gemini accounts take none). Errors name the TOML key.
func (c ProfileConfig) Validate(platform string) error {
	if c == (ProfileConfig{}) {
		return nil
	}
	var errs []error
	for _, f := range []struct{ key, v string }{
		{"os", c.OS}, {"arch", c.Arch}, {"package_version", c.PackageVersion},
		{"runtime_version", c.RuntimeVersion},
	} {
		if f.v != "" && !tokenValue(f.v) {
			errs = append(errs, fmt.Errorf("identity_profile.%s: %q is not a short header token", f.key, f.v))
		}
	}
	switch platform {
	case "anthropic":
		if c.UserAgent != "" {
			if _, ok := claudeVersion(c.UserAgent); !ok || !headerValue(c.UserAgent) {
				errs = append(errs, fmt.Errorf("identity_profile.user_agent: %q is not claude-cli/X.Y.Z (...)", c.UserAgent))
			}
		}
	case "openai":
		if c.UserAgent != "" {
			if _, ok := parseCodexUA(c.UserAgent); !ok || !headerValue(c.UserAgent) {
				errs = append(errs, fmt.Errorf("identity_profile.user_agent: %q is not codex_*/X.Y.Z (...)", c.UserAgent))
			}
		}
		if c.OS != "" || c.Arch != "" || c.PackageVersion != "" || c.RuntimeVersion != "" {
			errs = append(errs, errors.New("identity_profile: os, arch, package_version and runtime_version are Claude headers; a Codex profile has only user_agent"))
		}
	default:
		errs = append(errs, fmt.Errorf("identity_profile: a %s account has no client identity to pin", platform))
	}
	return errors.Join(errs...)
}

// headerValue: printable ASCII, at most maxHeader bytes — what subgate
// is willing to keep and send as a header value.
func headerValue(s string) bool {
	if s == "" || len(s) > maxHeader {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// tokenValue: a short value of letters, digits and ._-+ (OS names,
// architectures, versions).
func tokenValue(s string) bool {
	if s == "" || len(s) > maxToken {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '_' || r == '-' || r == '+')
	}) < 0
}
