// Package webui serves subgate's admin panel under /admin/: a JSON API
// (/admin/api/...) and a few server-rendered pages with vanilla
// JavaScript, all embedded in the binary (go:embed). Nothing is fetched
// from the network at run time; charts are inline SVG.
//
// The Handler reaches the rest of subgate only through Config: the
// scheduler for live state, and the Stats, Accounts, Keys and ErrorRules
// interfaces. Admin implements Accounts, Keys and ErrorRules over kv (the
// error rules added here: stored as one ordered list, checked with
// errrules' Validate and compiled before they are stored, handed to the
// gateway at once through Gateway.SetErrorRules): it adds, edits and deletes
// the stored accounts and keys (the config file's are read-only and win
// on a name clash), runs the OAuth logins of proxy/oauth, and hands the
// gateway the merged pool through Gateway, an interface webui declares
// for what only the running proxy can do; package main adapts the proxy
// to it. Accounts and keys travel as kv's models (kv.Account, kv.Key);
// the API's bodies convert into them in one place each (accountInput,
// keyInput), and what the API shows is a view of the Redacted model.
// webui imports kv, sched, ledger, proxy/oauth, proxy/edge, and
// proxy/errrules and proxy/identity for their types and checks, never
// proxy.
//
// Invariants:
//   - Every API call is authenticated: the admin bearer token (compared by
//     SHA-256 in constant time) or a session cookie. A cookie-authenticated
//     state change also needs the session's CSRF token (X-CSRF-Token) and
//     must not come from another site (Sec-Fetch-Site, else Origin).
//   - The session cookie is HttpOnly, SameSite=Strict, Path=/admin, and
//     Secure when Config.SecureCookies is set or the browser came over
//     HTTPS (TLS here, or X-Forwarded-Proto from a Config.Trust proxy).
//   - A login attempt counts against its client address before the
//     password's bcrypt check, so parallel attempts cannot outrun the
//     limit; a successful one is forgiven.
//   - No response contains an upstream credential, a proxy password or a
//     key secret, except the one answer to POST /admin/api/keys: account
//     views are built from kv.Account.Redacted, applied again by the view
//     whatever Accounts handed it.
//   - One validation: checkAccount and checkKey (this API's rules, then
//     the model's Validate) guard the handlers and Admin alike.
//   - Pages allow scripts and styles from the binary only (CSP), and build
//     DOM nodes without parsing HTML, so a name from the ledger cannot
//     inject markup.
//
// Caveats:
//   - Sessions and the failed-login counter live in memory: a restart logs
//     everybody out and resets the counter.
//   - Failed logins are limited per client address (an IPv6 /64); behind a
//     reverse proxy that is not in Config.Trust every client shares one
//     limit.
//   - Authorized sees only the headers: servers call it before reading a
//     body (edge.Guard), and the login form, whose credential is in the
//     body, must fit in edge.SmallBody.
//   - Usage paging uses the time of the last record as its cursor; records
//     sharing that exact nanosecond across a page boundary may be skipped.
//   - A filtered usage query scans raw records back from its cursor; a
//     filter that matches nothing scans up to ten years of ledger (bounded
//     by retention in practice). Dashboards read rollups only.
package webui
