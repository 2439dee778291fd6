package proxy

import (
	"fmt"
	"testing"
)

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
