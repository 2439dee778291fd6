package protocol

import (
	"math/bits"
	"strings"

	"github.com/tidwall/gjson"
)

// sessionHash is a 64-bit hash of conversation content for sticky
// sessions: stable across restarts (bindings are persisted), eight bytes
// per step because it runs over the first message of every request that
// names no session, and free of allocations. Collisions only make two
// conversations share an account.
const (
	hashSeed  = 0x243f6a8885a308d3
	hashPrime = 0x9e3779b185ebca87
)

func hashAdd(h uint64, s string) uint64 {
	for ; len(s) >= 8; s = s[8:] {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = bits.RotateLeft64((h^w)*hashPrime, 31)
	}
	var w uint64
	for i := 0; i < len(s); i++ {
		w |= uint64(s[i]) << (8 * i)
	}
	// The length keeps "ab"+"c" apart from "a"+"bc".
	h = bits.RotateLeft64((h^w^uint64(len(s))<<56)*hashPrime, 31)
	return h
}

// hashString renders a session hash with its prefix in one allocation.
func hashString(prefix string, h uint64) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	n := copy(b[:], prefix)
	for i := 60; i >= 0; i -= 4 {
		b[n] = digits[(h>>uint(i))&15]
		n++
	}
	return string(b[:n])
}

// sessionOf derives the session from what Parse already found, first
// being the first message's content.
func sessionOf(userID, header string, system gjson.Result, first string) string {
	if userID != "" {
		if strings.HasPrefix(userID, "{") {
			if s := gjson.Get(userID, "session_id").String(); s != "" {
				return "cc:" + s
			}
		} else if i := strings.LastIndex(userID, "_session_"); i >= 0 && len(userID)-i-9 >= 8 {
			return "cc:" + userID[i+9:]
		}
	}
	if header != "" {
		return "cc:" + header
	}
	h := uint64(hashSeed)
	n := 0
	system.ForEach(func(_, b gjson.Result) bool {
		if b.Get("cache_control").Exists() {
			h = hashAdd(h, b.Get("text").String())
			n++
		}
		return true
	})
	if n == 0 {
		// Fallback: the system text and the first user message are stable
		// for a conversation's whole life.
		if system.Type == gjson.String {
			h = hashAdd(h, system.Str)
		} else {
			system.ForEach(func(_, b gjson.Result) bool { h = hashAdd(h, b.Get("text").String()); return true })
		}
		if first == "" && system.Raw == "" {
			return ""
		}
		h = hashAdd(h, first)
	}
	return hashString("h:", h)
}

// anthropicSession derives the sticky session identity (scheduling.md)
// of a body.
func anthropicSession(userID, header string, system gjson.Result, body []byte) string {
	return sessionOf(userID, header, system, gjson.Get(view(body), "messages.0.content").Raw)
}

// firstContent is the raw content of the first message ("" when absent).
func firstContent(messages string) string {
	if messages == "" {
		return ""
	}
	first, ok := firstElement(messages)
	if !ok {
		return gjson.Get(messages, "0.content").Raw
	}
	if first == "" || first[0] != '{' {
		return ""
	}
	var content string
	if eachKey(first, func(k, raw string) bool {
		if k == "content" {
			content = raw
			return false
		}
		return true
	}) {
		return content
	}
	return gjson.Get(messages, "0.content").Raw
}
