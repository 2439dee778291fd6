package proxy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/proxy/identity"
	"subgate/proxy/upstreamtest"
)

// withIdentity gives a its identity handle from a manager of its own (in
// memory: a new device per test), as package main's proxyPool does.
func withIdentity(t *testing.T, a Account, mode identity.Mode) Account {
	t.Helper()
	ids := identity.New(identity.Config{})
	t.Cleanup(func() { ids.Close() })
	h, err := ids.Register(identity.Spec{Name: a.Name, Platform: a.Platform, Type: a.Type, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	a.Identity = h
	return a
}

// claudeClient is one user's Claude Code (or SDK) install: its headers
// and the device and session its metadata.user_id names.
type claudeClient struct {
	name            string
	headers         []string
	device, session string // "" sends no user_id
}

func (c claudeClient) body(prompt string) string {
	meta := ""
	if c.device != "" {
		meta = `"metadata":{"user_id":"{\"device_id\":\"` + c.device + `\",\"account_uuid\":\"\",\"session_id\":\"` + c.session + `\"}"},`
	}
	return `{"model":"claude-sonnet-4-5","max_tokens":10,` + meta +
		`"system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude."}],` +
		`"messages":[{"role":"user","content":"` + prompt + `"}]}`
}

var (
	linuxCC = claudeClient{"claude code 2.1.332 on linux", ccHeaders,
		strings.Repeat("a1", 32), header(ccHeaders, "x-claude-code-session-id")}
	macCC = claudeClient{"claude code 2.1.300 on a mac", []string{
		"user-agent", "claude-cli/2.1.300 (external, cli)", "x-app", "cli",
		"x-claude-code-session-id", "22222222-2222-4222-8222-222222222222",
		"x-stainless-arch", "arm64", "x-stainless-lang", "js", "x-stainless-os", "MacOS",
		"x-stainless-package-version", "0.120.0", "x-stainless-retry-count", "1",
		"x-stainless-runtime", "node", "x-stainless-runtime-version", "v24.1.0", "x-stainless-timeout", "600",
	}, strings.Repeat("b2", 32), "22222222-2222-4222-8222-222222222222"}
	pythonSDK = claudeClient{"the python sdk on windows", []string{
		"user-agent", "Anthropic/Python 0.70.0", "x-stainless-lang", "python", "x-stainless-os", "Windows",
		"x-stainless-arch", "x64", "x-stainless-async", "false", "x-stainless-package-version", "0.70.0",
	}, "", ""}
)

// upstreamIdentity is what the provider learns of the client from one
// request: its device, session and client headers.
type upstreamIdentity struct {
	device, session, sessionHeader, ua, os, arch, lang string
}

func identityOf(r upstreamtest.Recorded) upstreamIdentity {
	uid := gjson.GetBytes(r.Body, "metadata.user_id").String()
	return upstreamIdentity{
		device: gjson.Get(uid, "device_id").String(), session: gjson.Get(uid, "session_id").String(),
		sessionHeader: r.Header["x-claude-code-session-id"], ua: r.Header["user-agent"],
		os: r.Header["x-stainless-os"], arch: r.Header["x-stainless-arch"], lang: r.Header["x-stainless-lang"],
	}
}

// TestIdentityOneDevicePerAccount: three users — Claude Code on Linux and
// on a Mac, the Python SDK on Windows — share one OAuth account. The
// provider sees one device (one device_id, one User-Agent and Stainless
// set: the newest genuine Claude Code's), while every conversation keeps
// its own stable session, never merged with another's.
func TestIdentityOneDevicePerAccount(t *testing.T) {
	acct := withIdentity(t, oauthAccount("max1", "sk-ant-oat01-one-device", "", time.Now().Add(24*time.Hour)), identity.ModeMask)
	h := newHarness(t, []Account{acct})
	for _, c := range []claudeClient{linuxCC, macCC, pythonSDK, linuxCC} {
		if resp, b := h.post("/v1/messages", c.body("hello from "+c.name), c.headers...); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.name, resp.StatusCode, b)
		}
	}
	reqs := h.up.Requests()
	if len(reqs) != 4 {
		t.Fatalf("upstream got %d requests, want 4", len(reqs))
	}
	ids := make([]upstreamIdentity, len(reqs))
	for i, r := range reqs {
		ids[i] = identityOf(r)
	}
	first := ids[0]
	if len(first.device) != 64 || first.device == linuxCC.device || first.device == macCC.device {
		t.Fatalf("device_id %q: want the account's own", first.device)
	}
	want := upstreamIdentity{device: first.device, ua: "claude-cli/2.1.332 (external, sdk-cli)", os: "Linux", arch: "x64", lang: "js"}
	for i, got := range ids {
		got.session, got.sessionHeader = "", ""
		if got != want {
			t.Errorf("request %d reached the provider as %+v, want %+v", i, got, want)
		}
		if r := reqs[i]; r.Header["x-stainless-async"] != "" || r.Header["x-stainless-package-version"] != "0.128.0" {
			t.Errorf("request %d: Stainless headers not the profile's: %v", i, r.Header)
		}
	}
	// Sessions: distinct per conversation, stable across its requests,
	// never the client's own id, and the header agrees with the body.
	if ids[0].session != ids[3].session {
		t.Errorf("one conversation got two upstream sessions: %s, %s", ids[0].session, ids[3].session)
	}
	seen := map[string]string{}
	for i, id := range ids[:3] {
		if id.session == "" || id.session == linuxCC.session || id.session == macCC.session {
			t.Errorf("request %d: upstream session %q is missing or the client's own", i, id.session)
		}
		if prev, dup := seen[id.session]; dup {
			t.Errorf("request %d shares upstream session %s with %s", i, id.session, prev)
		}
		seen[id.session] = string(rune('0' + i))
	}
	for _, i := range []int{0, 1} {
		if ids[i].sessionHeader != ids[i].session {
			t.Errorf("request %d: X-Claude-Code-Session-Id %q disagrees with user_id's session %q", i, ids[i].sessionHeader, ids[i].session)
		}
	}
	// The rest of the body is the client's: only user_id changed.
	if !bytes.Contains(reqs[1].Body, []byte(`"content":"hello from claude code 2.1.300 on a mac"`)) {
		t.Errorf("body changed beyond user_id: %s", reqs[1].Body)
	}
}

// TestIdentityPassthrough: with identity passthrough the same clients
// reach the provider as themselves, their bodies byte for byte.
func TestIdentityPassthrough(t *testing.T) {
	acct := withIdentity(t, oauthAccount("max1", "sk-ant-oat01-passthrough", "", time.Now().Add(24*time.Hour)), identity.ModePassthrough)
	h := newHarness(t, []Account{acct})
	clients := []claudeClient{linuxCC, macCC}
	for _, c := range clients {
		if resp, b := h.post("/v1/messages", c.body("hi"), c.headers...); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.name, resp.StatusCode, b)
		}
	}
	for i, r := range h.up.Requests() {
		c := clients[i]
		if string(r.Body) != c.body("hi") {
			t.Errorf("%s: body changed: %s", c.name, r.Body)
		}
		got := identityOf(r)
		if got.device != c.device || got.session != c.session || got.ua != header(c.headers, "user-agent") ||
			got.os != header(c.headers, "x-stainless-os") || got.sessionHeader != header(c.headers, "x-claude-code-session-id") {
			t.Errorf("%s reached the provider as %+v", c.name, got)
		}
	}
}

// TestIdentityCodexOneInstallation: two Codex CLIs on one ChatGPT account
// reach the backend with one originator, User-Agent and installation id.
func TestIdentityCodexOneInstallation(t *testing.T) {
	acct := withIdentity(t, codexAccount("cx", "codex-identity", ""), identity.ModeMask)
	h := newHarness(t, []Account{acct})
	type codexClient struct{ ua, originator, install string }
	clients := []codexClient{
		{"codex_cli_rs/0.170.0 (Ubuntu 24.4.0; x86_64) xterm-256color", "codex_cli_rs", "0b9c1a2e-0000-4000-8000-000000000001"},
		{"codex_exec/0.165.0 (Mac OS 15.5.0; arm64) iTerm.app/3.5", "codex_exec", "0b9c1a2e-0000-4000-8000-000000000002"},
	}
	for _, c := range clients {
		body := strings.Replace(codexReq, `"store":false,`, `"store":false,"client_metadata":{"x-codex-installation-id":"`+c.install+`"},`, 1)
		resp, b := h.post("/v1/responses", body, "authorization", "Bearer "+testKey, "x-api-key", "",
			"user-agent", c.ua, "originator", c.originator, "version", strings.Split(strings.SplitN(c.ua, "/", 2)[1], " ")[0])
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.ua, resp.StatusCode, b)
		}
	}
	reqs := h.up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	for i, r := range reqs {
		inst := gjson.GetBytes(r.Body, `client_metadata.x-codex-installation-id`).String()
		if r.Header["user-agent"] != clients[0].ua || r.Header["originator"] != "codex_cli_rs" || r.Header["version"] != "0.170.0" {
			t.Errorf("request %d: client %q %q %q, want the first (newest) Codex's", i, r.Header["user-agent"], r.Header["originator"], r.Header["version"])
		}
		if inst == "" || inst == clients[0].install || inst == clients[1].install ||
			inst != gjson.GetBytes(reqs[0].Body, `client_metadata.x-codex-installation-id`).String() {
			t.Errorf("request %d: installation id %q, want the account's one", i, inst)
		}
	}
}
