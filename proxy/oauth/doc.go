// Package oauth is the OAuth room: everything subgate does with the
// providers' logins, shared by the gateway, the web UI and the CLI.
//
// It has two halves:
//   - The token manager (Tokens, tokens.go) hands the gateway live access
//     tokens for OAuth accounts (Claude, ChatGPT Codex, Google Code
//     Assist): it refreshes them ahead of expiry and on an upstream's 401,
//     one refresh at a time per account (later callers share it), and
//     persists every rotated token through TokenStore, which kv.DB
//     implements.
//   - The login flows get an account its first tokens: a platform's
//     authorization-code login with PKCE (Flow: the authorize URL, the
//     pasted code or the loopback redirect, the code exchange; login*.go,
//     pkce.go), the logins a web UI started and has not finished yet
//     (Pending), and the import of a client CLI's own credential file
//     (import*.go); jwt.go reads the claims subgate routes by (the ChatGPT
//     account id, an expiry) without verifying them.
//
// The token manager calls the token endpoints through proxy/upstream,
// with the account's egress proxy, and takes accounts as
// upstream.Account. It imports neither proxy nor webui.
//
// Invariants:
//   - A rotated refresh token is saved before its access token is used.
//     One that cannot be saved after SaveAttempts tries is never used: the
//     refresh fails with ErrTokenNotPersisted and the gateway sets the
//     account to error, instead of serving on a login the next restart
//     would lose. The new refresh token is kept in memory meanwhile, so a
//     later refresh, once the store works, can still save the login.
//   - ErrRefreshRejected means only that the provider refused the refresh
//     token (a 400, 401 or 403): the account needs a new login. Every
//     other failure is transient.
//   - A setup-token or API key is never refreshed.
//   - Tokens never reach a log line or an error message.
//
// Caveats:
//   - A config account whose credentials changed in the file since a
//     token was rotated (its seed differs) starts from the file again:
//     the user pasted a new login.
//   - Saving retries sleep on the refreshing goroutine (about 300ms at
//     most by default); callers waiting for that refresh wait with it.
package oauth
