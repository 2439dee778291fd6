package identity

import (
	"errors"
	"strings"
	"subgate/proxy/internal/jsonstr"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// maxUserID bounds the client's metadata.user_id that is read for its
// session id. Claude Code's is about 140 bytes; a longer one is replaced
// without being parsed.
const maxUserID = 1024

// ErrAmbiguousMetadata means a body names metadata or metadata.user_id
// twice, or with an escaped key: what subgate rewrites might not be what
// the upstream reads, so the request is refused (400) instead.
var ErrAmbiguousMetadata = errors.New("metadata or metadata.user_id is given more than once or with an escaped key")

// RewriteMessages gives a Messages body the account's identity: its
// metadata.user_id gets the account's device_id and account_uuid and a
// session_id derived (SessionID) from the client's own session id — the
// one in the body's user_id, or session when the body names none (pass
// the X-Claude-Code-Session-Id header, else the gateway's sticky session
// key). Both user_id forms are read; the one written follows the
// account's profile: the JSON string since Claude Code 2.1.78, the legacy
// user_<hex>_account_<uuid>_session_<uuid> before it.
//
// A body without metadata.user_id gets one only when insert is set: pass
// true for generation requests, which Claude Code always tags, and false
// for count_tokens, which it never does. Only that one value changes;
// every other byte of the body is kept, so prompt caching is unaffected.
// A passthrough account's body, and one that is not a valid JSON object,
// is returned as it is.
func (a *Account) RewriteMessages(body []byte, session string, insert bool) ([]byte, error) {
	// Only a valid JSON object is rewritten: on anything else gjson and
	// the upstream's parser might disagree about where user_id is, and the
	// upstream rejects it anyway.
	if !a.Masked() || !gjson.ValidBytes(body) {
		return body, nil
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return body, nil
	}
	meta, metaN, err := member(root, "metadata")
	if err != nil || metaN > 1 {
		return nil, ErrAmbiguousMetadata
	}
	var uid gjson.Result
	if meta.IsObject() {
		var n int
		if uid, n, err = member(meta, "user_id"); err != nil || n > 1 {
			return nil, ErrAmbiguousMetadata
		}
	}
	if !uid.Exists() && !insert {
		return body, nil
	}
	if s := clientSession(uid); s != "" {
		session = s
	}
	st := a.st.Load()
	value := st.userID(deriveSession(st.id.Salt, session))
	if uid.Exists() || meta.IsObject() {
		return sjson.SetBytes(body, "metadata.user_id", value)
	}
	// No metadata, or one that is not an object (null): give it one.
	raw := `{"user_id":` + string(jsonString(value)) + `}`
	return sjson.SetRawBytes(body, "metadata", []byte(raw))
}

// member finds key among obj's members and counts it; an escaped spelling
// of key is an error, since sjson would not find it.
func member(obj gjson.Result, key string) (gjson.Result, int, error) {
	var found gjson.Result
	n := 0
	var err error
	obj.ForEach(func(k, v gjson.Result) bool {
		if k.Str != key {
			return true
		}
		if k.Raw != `"`+key+`"` {
			err = ErrAmbiguousMetadata
			return false
		}
		n++
		if n == 1 {
			found = v
		}
		return true
	})
	return found, n, err
}

// clientSession is the session id a client's user_id carries, "" when
// none can be read.
func clientSession(uid gjson.Result) string {
	if uid.Type != gjson.String || len(uid.Str) > maxUserID {
		return ""
	}
	s := uid.Str
	if strings.HasPrefix(s, "{") {
		return gjson.Get(s, "session_id").String()
	}
	if i := strings.LastIndex(s, "_session_"); i >= 0 {
		return s[i+len("_session_"):]
	}
	return ""
}

// userID is the account's metadata.user_id for an upstream session, in
// the form its profile's Claude Code version uses.
func (st *state) userID(session string) string {
	if st.jsonUserID {
		return `{"device_id":"` + st.id.DeviceID + `","account_uuid":"` + st.id.AccountUUID +
			`","session_id":"` + session + `"}`
	}
	return "user_" + st.id.DeviceID + "_account_" + st.id.AccountUUID + "_session_" + session
}

// jsonString encodes s as a JSON string.
func jsonString(s string) []byte { return jsonstr.Quote(s) }
