package identity

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// codexInstallationKey is where Codex puts its installation id: a key of
// the Responses body's client_metadata on /responses (HTTP and WebSocket),
// and a header of the same name on /responses/compact (codex-rs
// core/src/client.rs, X_CODEX_INSTALLATION_ID_HEADER).
const codexInstallationKey = "x-codex-installation-id"

// CodexHeaders returns the headers a masked Codex request carries
// upstream in place of the client's (see CodexOwned): the profile's
// User-Agent, originator and version, and the account's installation id
// when the client sent that header. It returns nil for a passthrough
// account.
func (a *Account) CodexHeaders(get func(name string) string) []Header {
	if !a.Masked() {
		return nil
	}
	st := a.st.Load()
	h := []Header{{"user-agent", st.codex.UserAgent}, {"originator", st.codex.Originator},
		{"version", st.codex.Version}}
	if get(codexInstallationKey) != "" {
		h = append(h, Header{codexInstallationKey, st.id.InstallationID})
	}
	return h
}

// CodexOwned reports whether a client header (lowercase name) of a masked
// Codex request must not be forwarded because CodexHeaders replaces it.
func CodexOwned(name string) bool {
	return name == "user-agent" || name == "originator" || name == "version" || name == codexInstallationKey
}

// RewriteCodex replaces the installation id in a Responses body's
// client_metadata with the account's; a body without one, or a
// passthrough account's, is returned as it is. Nothing else changes.
func (a *Account) RewriteCodex(body []byte) ([]byte, error) {
	if !a.Masked() {
		return body, nil
	}
	const path = "client_metadata." + codexInstallationKey
	if !gjson.GetBytes(body, path).Exists() {
		return body, nil
	}
	return sjson.SetBytes(body, path, a.st.Load().id.InstallationID)
}
