package identity

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/gjson"
)

// memStore is a Store in a map.
type memStore struct {
	mu    sync.Mutex
	ids   map[string]Identity
	saves int
}

func (s *memStore) LoadIdentity(name string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ids[name]
	if !ok {
		return nil, false, nil
	}
	doc, err := json.Marshal(id)
	return doc, true, err
}

func (s *memStore) SaveIdentity(name string, doc []byte) error {
	var id Identity
	if err := json.Unmarshal(doc, &id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]Identity{}
	}
	s.ids[name] = id
	s.saves++
	return nil
}

func newManager(t *testing.T, store Store) *Manager {
	t.Helper()
	m := New(Config{Store: store})
	t.Cleanup(func() { m.Close() })
	return m
}

func register(t *testing.T, m *Manager, s Spec) *Account {
	t.Helper()
	a, err := m.Register(s)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return a
}

// client is one captured request: the real Claude Code 2.1.332 body and
// headers in testdata, optionally altered to play another client.
type client struct {
	body    []byte
	headers map[string]string
}

func (c client) get(name string) string { return c.headers[name] }

func realClient(t *testing.T) client {
	t.Helper()
	body, err := os.ReadFile("testdata/claude-code-2.1.332.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/claude-code-2.1.332.headers")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Scan() // request line
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if ok {
			h[strings.ToLower(k)] = v
		}
	}
	return client{body: body, headers: h}
}

// otherClient is a second person's Claude Code: another device, version,
// entrypoint, OS and conversation.
func otherClient(t *testing.T) client {
	c := realClient(t)
	uid := `{"device_id":"11493e361cb72c86e3b19ef2f25aaaa9431aea6a0d0eac2c997b1c12d065d890","account_uuid":"","session_id":"08d25318-6006-4222-a83e-437a1b3699d6"}`
	c.body = setUserID(t, c.body, uid)
	c.headers = map[string]string{}
	for k, v := range realClient(t).headers {
		c.headers[k] = v
	}
	c.headers["user-agent"] = "claude-cli/2.1.300 (external, claude-vscode, agent-sdk/0.2.300)"
	c.headers["x-stainless-os"] = "MacOS"
	c.headers["x-stainless-arch"] = "arm64"
	c.headers["x-stainless-runtime-version"] = "v24.3.0"
	c.headers["x-claude-code-session-id"] = "08d25318-6006-4222-a83e-437a1b3699d6"
	c.headers["x-stainless-helper-method"] = "stream" // the SDK's, which 2.1.332 does not send
	return c
}

func setUserID(t *testing.T, body []byte, uid string) []byte {
	t.Helper()
	r := gjson.GetBytes(body, "metadata.user_id")
	if !r.Exists() {
		t.Fatal("body has no metadata.user_id")
	}
	out := append([]byte(nil), body[:r.Index]...)
	out = append(out, jsonString(uid)...)
	return append(out, body[r.Index+len(r.Raw):]...)
}

// sent is what one request looks like upstream through an account.
type sent struct {
	body    []byte
	headers map[string]string
}

func through(t *testing.T, a *Account, c client) sent {
	t.Helper()
	a.ObserveClaude(c.get)
	out := sent{headers: map[string]string{}}
	for k, v := range c.headers {
		if !a.Masked() || !ClaudeOwned(k) {
			out.headers[k] = v
		}
	}
	for _, h := range a.ClaudeHeaders(c.get) {
		out.headers[h.Name] = h.Value
	}
	body, err := a.RewriteMessages(c.body, c.get("x-claude-code-session-id"), true)
	if err != nil {
		t.Fatalf("RewriteMessages: %v", err)
	}
	out.body = body
	return out
}

func userID(t *testing.T, body []byte) (device, account, session string) {
	t.Helper()
	uid := gjson.GetBytes(body, "metadata.user_id").String()
	if !strings.HasPrefix(uid, "{") {
		t.Fatalf("user_id %q is not the JSON form", uid)
	}
	return gjson.Get(uid, "device_id").String(), gjson.Get(uid, "account_uuid").String(), gjson.Get(uid, "session_id").String()
}

// TestTwoClientsOneDevice is issue 15's test: two Claude Codes with
// different devices, versions and OSes reach the provider through one
// OAuth account as one device and one client, with their sessions still
// distinct and each stable; through a passthrough account they are
// unchanged.
func TestTwoClientsOneDevice(t *testing.T) {
	m := newManager(t, &memStore{})
	const uuid = "a929b7ef-d758-4a98-b88e-07166e6c8537"
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth", AccountUUID: uuid})
	c1, c2 := realClient(t), otherClient(t)

	s1, s2 := through(t, a, c1), through(t, a, c2)
	d1, u1, sess1 := userID(t, s1.body)
	d2, u2, sess2 := userID(t, s2.body)
	id := a.Identity()
	if d1 != id.DeviceID || d2 != id.DeviceID {
		t.Errorf("devices = %s, %s; want both the account's %s", d1, d2, id.DeviceID)
	}
	if u1 != uuid || u2 != uuid {
		t.Errorf("account uuids = %q, %q; want %q", u1, u2, uuid)
	}
	if sess1 == sess2 {
		t.Errorf("two conversations share upstream session %s", sess1)
	}
	for _, s := range []string{sess1, sess2} {
		if !IsUUID(s) {
			t.Errorf("session %q is not a UUID", s)
		}
	}
	for _, h := range []string{"user-agent", "x-stainless-os", "x-stainless-arch", "x-stainless-runtime-version",
		"x-stainless-package-version", "x-app"} {
		if s1.headers[h] != s2.headers[h] {
			t.Errorf("%s differs: %q vs %q", h, s1.headers[h], s2.headers[h])
		}
	}
	if v, ok := s2.headers["x-stainless-helper-method"]; ok {
		t.Errorf("x-stainless-helper-method %q forwarded: it tells the second client apart", v)
	}
	if got, want := s1.headers["user-agent"], "claude-cli/2.1.332 (external, sdk-cli)"; got != want {
		t.Errorf("user-agent = %q, want the newest seen, %q", got, want)
	}
	if got, want := s2.headers["x-stainless-os"], "Linux"; got != want {
		t.Errorf("os = %q, want the first seen, %q", got, want)
	}
	if got, want := s1.headers["x-claude-code-session-id"], sess1; got != want {
		t.Errorf("session header = %q, want the body's %q", got, want)
	}
	// Stable: the same conversation again is the same upstream session.
	if _, _, again := userID(t, through(t, a, c1).body); again != sess1 {
		t.Errorf("same conversation, new session: %s then %s", sess1, again)
	}
	// Another account: the same conversations map elsewhere.
	b := register(t, m, Spec{Name: "max2", Platform: "anthropic", Type: "oauth"})
	if dB, _, sB := userID(t, through(t, b, c1).body); dB == d1 || sB == sess1 {
		t.Errorf("two accounts share device %v or session %v", dB == d1, sB == sess1)
	}

	p := register(t, m, Spec{Name: "key1", Platform: "anthropic", Type: "api_key"})
	for _, c := range []client{c1, c2} {
		s := through(t, p, c)
		if !bytes.Equal(s.body, c.body) {
			t.Error("passthrough changed the body")
		}
		for k, v := range c.headers {
			if s.headers[k] != v {
				t.Errorf("passthrough changed %s: %q → %q", k, v, s.headers[k])
			}
		}
	}
}

// TestRewriteKeepsRestByteForByte: in a real ~50 KB Claude Code body only
// the user_id value changes.
func TestRewriteKeepsRestByteForByte(t *testing.T) {
	m := newManager(t, nil)
	a := register(t, m, Spec{Name: "max1", Platform: "anthropic", Type: "oauth"})
	in := realClient(t).body
	if len(in) < 40<<10 {
		t.Fatalf("fixture is %d bytes, want a real ~50 KB body", len(in))
	}
	out, err := a.RewriteMessages(in, "", true)
	if err != nil {
		t.Fatal(err)
	}
	ri, ro := gjson.GetBytes(in, "metadata.user_id"), gjson.GetBytes(out, "metadata.user_id")
	if ri.Raw == ro.Raw {
		t.Fatal("user_id unchanged")
	}
	if !bytes.Equal(in[:ri.Index], out[:ro.Index]) {
		t.Error("bytes before user_id changed")
	}
	if !bytes.Equal(in[ri.Index+len(ri.Raw):], out[ro.Index+len(ro.Raw):]) {
		t.Error("bytes after user_id changed")
	}
	if !gjson.ValidBytes(out) {
		t.Error("output is not valid JSON")
	}
}
