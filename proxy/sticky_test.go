package proxy

import (
	"fmt"
	"testing"

	"github.com/tidwall/gjson"
)

func TestAnthropicSession(t *testing.T) {
	tests := []struct {
		name, body, header, want string
	}{
		{"json user_id", `{"metadata":{"user_id":"{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"s-json\"}"}}`, "", "cc:s-json"},
		{"legacy user_id", `{"metadata":{"user_id":"user_abc_account__session_0b5c6d7e-1111-2222-3333-444455556666"}}`, "", "cc:0b5c6d7e-1111-2222-3333-444455556666"},
		{"header", `{"messages":[]}`, "hdr-1", "cc:hdr-1"},
		{"user_id wins over header", `{"metadata":{"user_id":"{\"session_id\":\"s1\"}"}}`, "hdr-1", "cc:s1"},
		{"nothing", `{"model":"x"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			got := anthropicSession(gjson.GetBytes(body, "metadata.user_id").String(), tt.header, gjson.GetBytes(body, "system"), body)
			if got != tt.want {
				t.Errorf("session = %q, want %q", got, tt.want)
			}
		})
	}
	// Content hashes: stable across turns, different across conversations.
	turn1 := []byte(`{"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"first"}]}`)
	turn2 := []byte(`{"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"first"},{"role":"assistant","content":"a"},{"role":"user","content":"second"}]}`)
	other := []byte(`{"system":[{"type":"text","text":"T","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"first"}]}`)
	s1 := anthropicSession("", "", gjson.GetBytes(turn1, "system"), turn1)
	s2 := anthropicSession("", "", gjson.GetBytes(turn2, "system"), turn2)
	s3 := anthropicSession("", "", gjson.GetBytes(other, "system"), other)
	if s1 == "" || s1 != s2 || s1 == s3 {
		t.Errorf("content hash sessions: turn1=%q turn2=%q other=%q", s1, s2, s3)
	}
	plain1 := []byte(`{"system":"S","messages":[{"role":"user","content":"q1"}]}`)
	plain2 := []byte(`{"system":"S","messages":[{"role":"user","content":"q2"}]}`)
	p1 := anthropicSession("", "", gjson.GetBytes(plain1, "system"), plain1)
	p2 := anthropicSession("", "", gjson.GetBytes(plain2, "system"), plain2)
	if p1 == "" || p1 == p2 {
		t.Errorf("system+first message hashes: %q %q", p1, p2)
	}
}

// TestStickySessions sends several sessions, each several times, over a
// pool of equal accounts: every session stays on one account, and the
// sessions do not all land on the same one.
func TestStickySessions(t *testing.T) {
	for _, format := range []string{"json", "legacy"} {
		t.Run(format, func(t *testing.T) {
			h := newHarness(t, []Account{apiAccount("a1", "k1"), apiAccount("a2", "k2"), apiAccount("a3", "k3")})
			bySession := map[string]map[string]bool{}
			for round := 0; round < 3; round++ {
				for s := 0; s < 6; s++ {
					sid := fmt.Sprintf("00000000-0000-0000-0000-%012d", s)
					uid := `{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"` + sid + `\"}`
					if format == "legacy" {
						uid = "user_" + "ab12" + "_account__session_" + sid
					}
					body := `{"model":"claude-sonnet-4-5","max_tokens":5,"metadata":{"user_id":"` + uid + `"},"messages":[{"role":"user","content":"hi"}]}`
					if resp, b := h.post("/v1/messages", body); resp.StatusCode != 200 {
						t.Fatalf("status %d: %s", resp.StatusCode, b)
					}
				}
			}
			recs := h.records(18)
			for i, r := range recs {
				sid := fmt.Sprintf("%d", i%6)
				if bySession[sid] == nil {
					bySession[sid] = map[string]bool{}
				}
				bySession[sid][r.Account] = true
			}
			used := map[string]bool{}
			for sid, accts := range bySession {
				if len(accts) != 1 {
					t.Errorf("session %s served by %v, want one account", sid, accts)
				}
				for a := range accts {
					used[a] = true
				}
			}
			if len(used) < 2 {
				t.Errorf("all sessions pinned to %v", used)
			}
		})
	}
}

func TestStickyRebindsWhenAccountFails(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1"), apiAccount("a2", "k2")})
	body := `{"model":"claude-sonnet-4-5","max_tokens":5,"metadata":{"user_id":"{\"session_id\":\"sess-1\"}"},"messages":[{"role":"user","content":"hi"}]}`
	h.post("/v1/messages", body)
	first := h.records(1)[0].Account
	key := map[string]string{"a1": "k1", "a2": "k2"}[first]
	h.up.Script(key, upstreamTooMany())
	h.post("/v1/messages", body)
	h.post("/v1/messages", body)
	recs := h.records(3)
	if recs[1].Account == first || recs[2].Account != recs[1].Account {
		t.Errorf("accounts = %s, %s, %s; want a rebind away from %s that then sticks", recs[0].Account, recs[1].Account, recs[2].Account, first)
	}
}
