package protocol

import (
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
