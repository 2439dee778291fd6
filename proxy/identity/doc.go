// Package identity makes each subscription account look like one device
// to its provider, whoever uses it through subgate: one Claude Code
// device_id and account_uuid in metadata.user_id, one User-Agent and set
// of x-stainless-* headers, one Codex originator, User-Agent and
// installation id — while every client conversation keeps its own,
// stable upstream session.
//
// A Manager holds one Account handle per upstream account. Register
// (start-up, account changes: package main's proxyPool, for every masked
// account) loads the account's Identity from a Store (kv) or generates
// one; the handle travels in the proxy's account view
// (upstream.Account.Identity) and the hot path uses it only
// (proxy/protocol):
//
//	// Anthropic Prepare, for a masked account (id := a.Masked()):
//	if c.ClaudeCode { id.ObserveClaude(c.header) }
//	// forward client headers except identity.ClaudeOwned ones, then:
//	for _, h := range id.ClaudeHeaders(c.header) { setHeader(&req.Header, h.Name, h.Value) }
//	body, err = id.RewriteMessages(body, clientSession, c.Endpoint == EndpointGenerate)
//	// Codex (OpenAI OAuth) Prepare, likewise:
//	id.ObserveCodex(c.header); id.CodexHeaders(c.header); id.RewriteCodex(body)
//
// # What changes and what does not
//
// Only identity fields change: metadata.user_id (one sjson edit; every
// other byte of the body is kept, so prompt caching keeps hitting), the
// User-Agent, x-app, x-stainless-*, X-Claude-Code-Session-Id, and for
// Codex User-Agent, originator, version and the installation id (header
// and client_metadata). docs/identity.md lists what is deliberately left
// alone (the billing header block, anthropic-beta, prompt_cache_key…).
//
// # Invariants
//
//   - The hot-path methods (Observe*, *Headers, Rewrite*, SessionID) take
//     no lock and do no I/O: an Account's state is an immutable snapshot
//     behind an atomic pointer, replaced by compare-and-swap when a newer
//     client version is learned. Saving is the Manager's saver goroutine's
//     job, debounced; Close flushes it.
//   - Learned values are bounded: header values are printable ASCII of at
//     most 256 bytes (Stainless tokens 64), versions are X.Y.Z with at most
//     nine digits each, and a user_id longer than 1 KB is replaced without
//     being read.
//   - Upstream session ids are HMAC-SHA256(salt, client session) as a
//     UUID: stable per conversation, distinct across conversations, and
//     unlinkable across accounts. The salt never leaves subgate.
//   - A profile is learned only from requests whose headers are a genuine
//     Claude Code's (claude-cli/X.Y.Z UA, x-app cli, complete Stainless
//     set) or Codex's (originator matching the UA), and only when its
//     version is newer; OS and architecture stay those first learned.
//
// # Caveats
//
//   - A key holder can claim any version: a forged "claude-cli/99.0.0"
//     with a complete Stainless set becomes the account's profile. Pin
//     identity_profile for accounts whose key holders are not trusted;
//     registering again after clearing the stored identity resets it.
//   - Without a Store (tests) every start is a new device.
//   - The first genuine client seen fixes the OS; a pool of mixed OSes
//     shows the provider that one, which is the point.
package identity
