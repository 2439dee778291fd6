package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"subgate/proxy/upstreamtest"
)

// The admin operations of package main (cmd_admin_accounts.go,
// cmd_admin_keys.go) driven the way the UI drives them: the real serve
// behind /admin/api with the admin token, the mock upstream behind it,
// and the effect checked on the gateway and upstream side.

// adminEnv is a running serve in front of the mock upstream.
type adminEnv struct {
	*instance
	up *upstreamtest.Server
}

func newAdminEnv(t *testing.T, o serveOpts) *adminEnv {
	t.Helper()
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	return &adminEnv{instance: startInstance(t, writeServeConfig(t, dir, addr, up.URL(), o), addr), up: up}
}

// call sends an admin API request and fails the test unless the status is
// want; it returns the reply body.
func (e *adminEnv) call(method, path, body string, want int) []byte {
	e.t.Helper()
	resp, b := e.admin(method, "/admin/api/"+path, body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s /admin/api/%s %s: status %d %s, want %d", method, path, body, resp.StatusCode, b, want)
	}
	return b
}

// send makes one Messages request with key on its own sticky session and
// returns the status and the credential the upstream saw ("" when the
// request never reached it).
func (e *adminEnv) send(key, session string) (int, string) {
	e.t.Helper()
	before := len(e.up.Requests())
	resp, _ := e.message(key, strings.Replace(serveBody, "serve-sess", session, 1))
	return resp.StatusCode, e.lastCredential(before, "/v1/messages")
}

// lastCredential is the credential of the last request to path that the
// upstream received after the first skip requests.
func (e *adminEnv) lastCredential(skip int, path string) string {
	reqs := e.up.Requests()
	for i := len(reqs) - 1; i >= skip; i-- {
		if strings.HasPrefix(reqs[i].Path, path) {
			return reqs[i].Credential
		}
	}
	return ""
}

// account returns the admin API's view of one account ("" Raw when absent).
func (e *adminEnv) account(name string) gjson.Result {
	e.t.Helper()
	return gjson.GetBytes(e.call("GET", "accounts", "", 200), `accounts.#(name==`+fmt.Sprintf("%q", name)+`)`)
}

func (e *adminEnv) key(name string) gjson.Result {
	e.t.Helper()
	return gjson.GetBytes(e.call("GET", "keys", "", 200), `keys.#(name==`+fmt.Sprintf("%q", name)+`)`)
}

// TestAdminKeyLifecycle creates, edits and deletes a key through the
// admin API and checks each change on the gateway: a PATCHed limit is
// enforced at once, a disabled or deleted key gets 401, config keys are
// read-only.
func TestAdminKeyLifecycle(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	body := e.call("POST", "keys", `{"name":"bob","group":"default","limit_day_usd":5,"allow_ips":["127.0.0.1/8"]}`, 201)
	secret := gjson.GetBytes(body, "secret").String()
	if !strings.HasPrefix(secret, "sk-sg-") {
		t.Fatalf("no secret in %s", body)
	}
	if st, cred := e.send(secret, "bob-1"); st != 200 || cred != "k1" {
		t.Fatalf("bob's first request: status %d upstream credential %q, want 200 via k1", st, cred)
	}
	bob := e.key("bob")
	if bob.Get("source").String() != "ui" || bob.Get("limit_day_usd").Float() != 5 || !bob.Get("enabled").Bool() ||
		bob.Get("created").String() == "" || bob.Get(`windows.#(window=="day").limit_usd`).Float() != 5 {
		t.Errorf("bob as listed: %s", bob.Raw)
	}
	if keys := e.call("GET", "keys", "", 200); strings.Contains(string(keys), secret) {
		t.Errorf("the key list shows bob's secret")
	}

	// A day limit below one request's estimate refuses the next request
	// before it goes upstream.
	e.call("PATCH", "keys/bob", `{"limit_day_usd":0.0001}`, 200)
	if got := e.key("bob").Get("limit_day_usd").Float(); got != 0.0001 {
		t.Errorf("limit_day_usd after PATCH = %v", got)
	}
	if got := e.key("bob").Get("allow_ips").String(); got != `["127.0.0.1/8"]` {
		t.Errorf("PATCH of one field changed allow_ips to %s", got)
	}
	n := e.up.Count("k1")
	if st, _ := e.send(secret, "bob-2"); st != 429 {
		t.Errorf("request over the PATCHed limit: status %d, want 429", st)
	}
	if e.up.Count("k1") != n {
		t.Errorf("a request over the limit reached the upstream")
	}

	// Disabled: 401; enabled and unlimited again: served.
	e.call("PATCH", "keys/bob", `{"limit_day_usd":0,"enabled":false}`, 200)
	if st, _ := e.send(secret, "bob-3"); st != 401 {
		t.Errorf("disabled key: status %d, want 401", st)
	}
	e.call("PATCH", "keys/bob", `{"enabled":true}`, 200)
	if st, _ := e.send(secret, "bob-4"); st != 200 {
		t.Errorf("re-enabled key without a limit: status %d, want 200", st)
	}
	// An allow list that excludes the client: 403.
	e.call("PATCH", "keys/bob", `{"allow_ips":["10.0.0.0/8"]}`, 200)
	if st, _ := e.send(secret, "bob-5"); st != 403 {
		t.Errorf("client outside allow_ips: status %d, want 403", st)
	}

	e.call("DELETE", "keys/bob", "", 200)
	if st, _ := e.send(secret, "bob-6"); st != 401 {
		t.Errorf("deleted key: status %d, want 401", st)
	}
	if e.key("bob").Exists() {
		t.Errorf("bob is still listed after DELETE")
	}
	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{"DELETE", "keys/bob", "", 404},
		{"PATCH", "keys/bob", `{"rpm":1}`, 404},
		{"PATCH", "keys/alice", `{"rpm":1}`, 409}, // config keys are the file's
		{"DELETE", "keys/alice", "", 409},
		{"POST", "keys", `{"name":"alice"}`, 400},
		{"POST", "keys", `{"name":"carol","limit_day_usd":-1}`, 400},
		{"PATCH", "keys/alice", `{"name":"other"}`, 409},
	} {
		e.call(tt.method, tt.path, tt.body, tt.want)
	}
	if st, _ := e.send(serveKey, "alice-after"); st != 200 {
		t.Errorf("config key alice after the refused edits: status %d", st)
	}
}

// TestAdminAccountLifecycle adds, edits and deletes an API-key account
// through the admin API: an edited key is the one sent upstream, a
// deleted account is no longer scheduled (its sticky session moves), and
// config accounts are read-only.
func TestAdminAccountLifecycle(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	const k3, k3new = "sk-ant-api03-a3-first-key-0000", "sk-ant-api03-a3-second-key-000"
	e.call("POST", "accounts", `{"name":"a3","platform":"anthropic","type":"api_key","api_key":"`+k3+`","priority":1}`, 201)
	if st, cred := e.send(serveKey, "s3"); st != 200 || cred != k3 {
		t.Fatalf("after adding a3 (priority 1): status %d via %q, want 200 via k3", st, cred)
	}
	a3 := e.account("a3")
	if a3.Get("source").String() != "ui" || a3.Get("group").String() != "default" || a3.Get("concurrency").Int() != 3 ||
		a3.Get("token_prefix").String() != "sk-ant-api03…" || a3.Get("priority").Int() != 1 {
		t.Errorf("a3 as listed: %s", a3.Raw)
	}

	// A new API key is used from the next request on, sticky session or not.
	e.call("PATCH", "accounts/a3", `{"api_key":"`+k3new+`"}`, 200)
	if st, cred := e.send(serveKey, "s3"); st != 200 || cred != k3new {
		t.Errorf("after the key edit: status %d via %q, want 200 via k3-new", st, cred)
	}
	// A lower priority sends new sessions elsewhere; the edit kept the key.
	e.call("PATCH", "accounts/a3", `{"priority":30,"models":["claude-*"]}`, 200)
	if st, cred := e.send(serveKey, "s-new"); st != 200 || cred != "k1" {
		t.Errorf("a new session after a3's priority went to 30: status %d via %q, want k1", st, cred)
	}
	if st, cred := e.send(serveKey, "s3"); st != 200 || cred != k3new {
		t.Errorf("a3's session after the priority edit: status %d via %q, want k3-new", st, cred)
	}
	if m := e.account("a3").Get("models").String(); m != `["claude-*"]` {
		t.Errorf("a3 models = %s", m)
	}

	// Deleted: the session bound to a3 is served by another account.
	e.call("DELETE", "accounts/a3", "", 200)
	n := e.up.Count(k3new)
	if st, cred := e.send(serveKey, "s3"); st != 200 || cred == k3new || cred == "" {
		t.Errorf("a3's session after DELETE: status %d via %q, want 200 via another account", st, cred)
	}
	if e.up.Count(k3new) != n {
		t.Errorf("the deleted account still got a request")
	}
	if e.account("a3").Exists() {
		t.Errorf("a3 is still listed after DELETE")
	}
	for _, tt := range []struct {
		method, path, body string
		want               int
	}{
		{"DELETE", "accounts/a3", "", 404},
		{"PATCH", "accounts/a3", `{"priority":1}`, 404},
		{"PATCH", "accounts/a1", `{"priority":1}`, 409}, // config accounts are the file's
		{"DELETE", "accounts/a1", "", 409},
		{"POST", "accounts", `{"name":"a1","platform":"anthropic","type":"api_key","api_key":"x"}`, 400},
		{"POST", "accounts", `{"name":"a4","platform":"anthropic","type":"api_key"}`, 400},
		{"POST", "accounts/a1/bogus", "", 404},
	} {
		e.call(tt.method, tt.path, tt.body, tt.want)
	}
	if !e.account("a1").Exists() {
		t.Errorf("config account a1 gone after a refused DELETE")
	}
}

// TestAdminAccountListRedacts: a stored account's proxy password and
// secrets never appear in the listing.
func TestAdminAccountListRedacts(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	e.call("POST", "accounts", `{"name":"spare","platform":"openai","type":"api_key","api_key":"sk-proj-SECRETSECRETSECRET",`+
		`"group":"spare","proxy":"http://user:pa55word@127.0.0.1:9","base_url":"http://127.0.0.1:9/v1","concurrency":2}`, 201)
	raw := string(e.call("GET", "accounts", "", 200))
	for _, secret := range []string{"pa55word", "SECRETSECRET"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the account list shows %q: %s", secret, raw)
		}
	}
	spare := e.account("spare")
	if got := spare.Get("proxy").String(); got != "http://user:xxxxx@127.0.0.1:9" {
		t.Errorf("proxy shown as %q", got)
	}
	if spare.Get("platform").String() != "openai" || spare.Get("concurrency").Int() != 2 ||
		spare.Get("base_url").String() != "http://127.0.0.1:9/v1" || spare.Get("token_prefix").String() != "sk-proj-SECR…" {
		t.Errorf("spare as listed: %s", spare.Raw)
	}
}

// TestAdminSetupTokenEdit: editing a setup-token account's credential
// drops the token the gateway cached, so the next request carries the
// new one.
func TestAdminSetupTokenEdit(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	const first, second = "sk-ant-oat01-first-setup-token", "sk-ant-oat01-second-setup-token"
	e.call("POST", "accounts", `{"name":"st","platform":"anthropic","type":"setup_token","access_token":"`+first+`","priority":1}`, 201)
	if st, cred := e.send(serveKey, "st-1"); st != 200 || cred != first {
		t.Fatalf("setup-token account: status %d via %q, want 200 via the first token", st, cred)
	}
	e.call("PATCH", "accounts/st", `{"access_token":"`+second+`"}`, 200)
	if st, cred := e.send(serveKey, "st-1"); st != 200 || cred != second {
		t.Errorf("after the edit: status %d via %q, want 200 via the second token", st, cred)
	}
	// Refresh has nothing to do for a setup token.
	if b := e.call("POST", "accounts/st/refresh", "", 400); gjson.GetBytes(b, "error.field").String() != "type" {
		t.Errorf("refresh of a setup token: %s", b)
	}
}

// TestAdminTestAction: the test button sends a tiny request through one
// account and reports the upstream's answer without touching its health.
func TestAdminTestAction(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	b := e.call("POST", "accounts/a1/test", "", 200)
	if !gjson.GetBytes(b, "ok").Bool() || gjson.GetBytes(b, "status").Int() != 200 ||
		gjson.GetBytes(b, "model").String() != "claude-haiku-4-5" {
		t.Errorf("test of a healthy account: %s", b)
	}
	if r := e.up.Requests(); r[len(r)-1].Credential != "k1" {
		t.Errorf("the test went out with %q, want a1's k1", r[len(r)-1].Credential)
	}
	e.up.Script("k1", upstreamtest.AuthError())
	b = e.call("POST", "accounts/a1/test", "", 200)
	if gjson.GetBytes(b, "ok").Bool() || gjson.GetBytes(b, "status").Int() != 401 ||
		!strings.Contains(gjson.GetBytes(b, "message").String(), "invalid x-api-key") {
		t.Errorf("test of a revoked key: %s", b)
	}
	if st := e.account("a1").Get("state").String(); st != "ok" {
		t.Errorf("a failed test changed a1's state to %q", st)
	}
	e.call("POST", "accounts/nobody/test", "", 404)
	e.call("POST", "accounts/nobody/refresh", "", 404)
}

// TestAdminMethods: unknown routes and methods, and no token.
func TestAdminMethods(t *testing.T) {
	e := newAdminEnv(t, serveOpts{})
	if resp, _ := e.do("DELETE", "/admin/api/keys/alice", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without a token: %d", resp.StatusCode)
	}
	e.call("PUT", "keys/alice", "{}", 405)
}

// TestAdminConfigWins: a key and an account created in the UI, then
// written into the config file under the same names, are the file's after
// a restart: the stored copies are neither listed nor used.
func TestAdminConfigWins(t *testing.T) {
	up := startMock(t, upstreamtest.Config{})
	dir, addr := t.TempDir(), freeAddr(t)
	e := &adminEnv{instance: startInstance(t, writeServeConfig(t, dir, addr, up.URL(), serveOpts{}), addr), up: up}
	uiSecret := gjson.GetBytes(e.call("POST", "keys", `{"name":"dave"}`, 201), "secret").String()
	e.call("POST", "accounts", `{"name":"a3","platform":"anthropic","type":"api_key","api_key":"k3-ui","priority":1}`, 201)
	if st, cred := e.send(uiSecret, "d-1"); st != 200 || cred != "k3-ui" {
		t.Fatalf("before the restart: status %d via %q", st, cred)
	}
	e.stop()

	const daveKey = "sk-sg-dave-from-the-config-file"
	cfgPath := writeServeConfig(t, dir, addr, up.URL(), serveOpts{extra: `
[[keys]]
name = "dave"
key = "` + daveKey + `"
expires_at = "2099-01-01T00:00:00Z"
[[accounts]]
name = "a3"
type = "api_key"
api_key = "k3-config"
priority = 1
`})
	e.instance = startInstance(t, cfgPath, addr)
	keys := gjson.GetBytes(e.call("GET", "keys", "", 200), `keys.#(name=="dave")#`).Array()
	if len(keys) != 1 || keys[0].Get("source").String() != "config" || !strings.HasPrefix(keys[0].Get("expires_at").String(), "2099-01-01") {
		t.Errorf("dave after the restart: %v", keys)
	}
	if st, _ := e.send(uiSecret, "d-2"); st != 401 {
		t.Errorf("the UI key's secret after the config took the name: status %d, want 401", st)
	}
	if st, cred := e.send(daveKey, "d-3"); st != 200 || cred != "k3-config" {
		t.Errorf("the config's dave through the config's a3: status %d via %q", st, cred)
	}
	accts := gjson.GetBytes(e.call("GET", "accounts", "", 200), `accounts.#(name=="a3")#`).Array()
	if len(accts) != 1 || accts[0].Get("source").String() != "config" {
		t.Errorf("a3 after the restart: %v", accts)
	}
}
