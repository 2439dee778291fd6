// Package webui serves subgate's admin panel under /admin/: a JSON API
// (/admin/api/...) and a few server-rendered pages with vanilla
// JavaScript, all embedded in the binary (go:embed). Nothing is fetched
// from the network at run time; charts are inline SVG.
//
// It reaches the rest of subgate only through Config: the scheduler for
// live state, and the Stats, Accounts and Keys interfaces that package
// main implements. It never imports proxy or kv.
//
// Invariants:
//   - Every API call is authenticated: the admin bearer token (compared by
//     SHA-256 in constant time) or a session cookie. A cookie-authenticated
//     state change also needs the session's CSRF token (X-CSRF-Token) and
//     must not come from another site (Sec-Fetch-Site, else Origin).
//   - The session cookie is HttpOnly, SameSite=Strict, Path=/admin, and
//     Secure when Config.SecureCookies is set.
//   - No response contains an upstream credential, a proxy password or a
//     key secret, except the one answer to POST /admin/api/keys.
//   - Pages allow scripts and styles from the binary only (CSP), and build
//     DOM nodes without parsing HTML, so a name from the ledger cannot
//     inject markup.
//
// Caveats:
//   - Sessions and the failed-login counter live in memory: a restart logs
//     everybody out and resets the counter.
//   - Failed logins are limited per client IP as the server sees it; behind
//     a reverse proxy every client shares one limit.
//   - Usage paging uses the time of the last record as its cursor; records
//     sharing that exact nanosecond across a page boundary may be skipped.
//   - A filtered usage query scans raw records back from its cursor; a
//     filter that matches nothing scans up to ten years of ledger (bounded
//     by retention in practice). Dashboards read rollups only.
package webui
