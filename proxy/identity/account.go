package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"strings"
	"sync/atomic"
)

// Account is one upstream account's identity handle, used on the hot
// path. Its methods take no lock and do no I/O: the state is an immutable
// value behind an atomic pointer, replaced whole when a newer client
// version is learned.
type Account struct {
	name string
	m    *Manager
	mode atomic.Pointer[Mode]
	st   atomic.Pointer[state]
}

// state is an Account's immutable snapshot.
type state struct {
	id     Identity // Claude and Codex: the learned profiles, nil if none
	pinned bool     // a config profile: never learn
	pin    ProfileConfig
	// claude and codex are the profiles sent: learned, else pinned or
	// built-in, with the config's fixed fields applied.
	claude, codex Profile
	claudeVer     version
	codexVer      version
	jsonUserID    bool // the Claude profile sends metadata.user_id as JSON
}

func newState(id Identity, s Spec) *state {
	st := &state{id: id, pinned: s.Profile.Pinned(), pin: s.Profile}
	st.build()
	return st
}

// build derives the sent profiles from the learned ones and the pin.
func (st *state) build() {
	st.claude, st.codex = builtinClaude, builtinCodex
	switch {
	case st.pinned && st.pin.UserAgent != "":
		if _, ok := claudeVersion(st.pin.UserAgent); ok {
			st.claude.UserAgent = st.pin.UserAgent
		} else {
			c, _ := parseCodexUA(st.pin.UserAgent)
			st.codex = Profile{UserAgent: st.pin.UserAgent, Originator: c.originator, Version: c.ver}
		}
	default:
		if st.id.Claude != nil {
			st.claude = *st.id.Claude
		}
		if st.id.Codex != nil {
			st.codex = *st.id.Codex
		}
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{{&st.claude.OS, st.pin.OS}, {&st.claude.Arch, st.pin.Arch},
		{&st.claude.PackageVersion, st.pin.PackageVersion}, {&st.claude.RuntimeVersion, st.pin.RuntimeVersion}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	st.claudeVer, _ = claudeVersion(st.claude.UserAgent)
	if c, ok := parseCodexUA(st.codex.UserAgent); ok {
		st.codexVer = c.version
	}
	st.jsonUserID = !jsonUserIDSince.newer(st.claudeVer)
}

// identity is the value to persist.
func (st *state) identity() Identity { return st.id }

// Name is the account's name.
func (a *Account) Name() string { return a.name }

// Masked reports whether the account presents its own identity.
func (a *Account) Masked() bool { return *a.mode.Load() == ModeMask }

// Identity returns a copy of the account's identity, for the admin UI.
// Salt is cleared: it is a secret and the UI has no use for it.
func (a *Account) Identity() Identity {
	id := a.st.Load().id
	id.Salt = ""
	return id
}

// Profile returns the Claude and Codex profiles the account sends now.
func (a *Account) Profile() (claude, codex Profile) {
	st := a.st.Load()
	return st.claude, st.codex
}

// SessionID derives the upstream session id for a client's session id: a
// UUID (version 4 layout) from HMAC-SHA256 keyed with the account's salt.
// The same client session always maps to the same upstream session on
// this account, two different ones never meet (barring a 122-bit
// collision), and the same client session on two accounts maps to
// unrelated ids, so the provider cannot link them.
func (a *Account) SessionID(client string) string {
	return deriveSession(a.st.Load().id.Salt, client)
}

func deriveSession(salt, client string) string {
	mac := hmac.New(sha256.New, []byte(salt))
	mac.Write([]byte("subgate session v1\x00"))
	mac.Write([]byte(client))
	sum := mac.Sum(nil)
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return formatUUID(sum[:16])
}

// ObserveClaude learns from a Claude request's client headers: when they
// are a genuine Claude Code's and its version is newer than the profile
// the account sends (or none was learned yet), that becomes the profile,
// keeping the OS and architecture first learned so the device does not
// change OS. The common case — same or older version — is one atomic load
// and a parse of the User-Agent. The caller should pass only requests
// whose body is Claude Code's too (proxy's Call.ClaudeCode).
func (a *Account) ObserveClaude(get func(name string) string) {
	if !a.Masked() {
		return
	}
	st := a.st.Load()
	if st.pinned {
		return
	}
	v, ok := claudeVersion(get("user-agent"))
	if !ok || (st.id.Claude != nil && !v.newer(st.claudeVer)) {
		return
	}
	p, v, ok := claudeFrom(get)
	if !ok {
		return
	}
	for {
		old := a.st.Load()
		if old.pinned || (old.id.Claude != nil && !v.newer(old.claudeVer)) {
			return
		}
		q := p
		if prev := old.id.Claude; prev != nil {
			q.OS, q.Arch = prev.OS, prev.Arch
		}
		next := *old
		next.id.Claude = &q
		next.build()
		if a.st.CompareAndSwap(old, &next) {
			a.m.markDirty(a.name)
			return
		}
	}
}

// ObserveCodex is ObserveClaude for Codex CLI requests: the originator,
// version and User-Agent of the newest genuine Codex, keeping the
// platform part of the User-Agent first learned.
func (a *Account) ObserveCodex(get func(name string) string) {
	if !a.Masked() {
		return
	}
	st := a.st.Load()
	if st.pinned {
		return
	}
	c, ok := parseCodexUA(get("user-agent"))
	if !ok || (st.id.Codex != nil && !c.version.newer(st.codexVer)) {
		return
	}
	p, c, ok := codexFrom(get)
	if !ok {
		return
	}
	for {
		old := a.st.Load()
		if old.pinned || (old.id.Codex != nil && !c.version.newer(old.codexVer)) {
			return
		}
		q := p
		if prev := old.id.Codex; prev != nil {
			if pc, ok := parseCodexUA(prev.UserAgent); ok {
				q.UserAgent = c.originator + "/" + c.ver + pc.platform
			}
		}
		next := *old
		next.id.Codex = &q
		next.build()
		if a.st.CompareAndSwap(old, &next) {
			a.m.markDirty(a.name)
			return
		}
	}
}

// ClaudeHeaders returns the headers a masked Claude request carries
// upstream in place of the client's (see ClaudeOwned): the profile's
// User-Agent, x-app and Stainless headers, the per-request Stainless
// retry count and timeout (the client's when they are plain numbers, else
// Claude Code's defaults), and, when the client sent one,
// X-Claude-Code-Session-Id derived like the body's session id so the two
// still agree. It returns nil for a passthrough account.
func (a *Account) ClaudeHeaders(get func(name string) string) []Header {
	if !a.Masked() {
		return nil
	}
	st := a.st.Load()
	h := st.claude.claudeHeaders(make([]Header, 0, 11))
	h = append(h, Header{"x-stainless-retry-count", number(get("x-stainless-retry-count"), "0")},
		Header{"x-stainless-timeout", number(get("x-stainless-timeout"), "600")})
	if s := get("x-claude-code-session-id"); s != "" {
		h = append(h, Header{"x-claude-code-session-id", deriveSession(st.id.Salt, s)})
	}
	return h
}

// ClaudeOwned reports whether a client header (lowercase name) of a
// masked Claude request must not be forwarded because ClaudeHeaders
// replaces it or it would tell another client apart: the User-Agent,
// x-app, the session header and every x-stainless-* (the Python SDK's
// x-stainless-async, helper methods…).
func ClaudeOwned(name string) bool {
	return name == "user-agent" || name == "x-app" || name == "x-claude-code-session-id" ||
		strings.HasPrefix(name, "x-stainless-")
}

// number returns s when it is a short decimal number, else def.
func number(s, def string) string {
	if len(s) == 0 || len(s) > 6 {
		return def
	}
	if _, err := strconv.ParseUint(s, 10, 32); err != nil {
		return def
	}
	return s
}
