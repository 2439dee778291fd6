// Package webui serves the admin JSON API (and, later, the embedded admin
// pages) under /admin/.
//
// Invariants: every endpoint requires the admin bearer token, compared by
// SHA-256 in constant time; no response ever contains an upstream
// credential or a client key secret.
package webui
