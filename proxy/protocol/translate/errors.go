package translate

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Sentinels an *Error wraps, so callers can tell the cases apart.
var (
	// ErrUnsupported: the request uses something the upstream format has
	// no faithful counterpart for.
	ErrUnsupported = errors.New("cannot be translated")
	// ErrPreviousResponse: a Responses request continues a stored turn
	// that only an OpenAI account keeps.
	ErrPreviousResponse = errors.New("previous_response_id needs the stored response")
)

// Error is a request the translator refuses; Field is the JSON path in the
// client's body (e.g. "tools[2].type"). The gateway answers it with a 400
// in the client's error shape.
type Error struct {
	Field  string
	Reason string
	Err    error // ErrUnsupported or ErrPreviousResponse
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// unsupported is the common *Error.
func unsupported(field, reason string) *Error {
	return &Error{Field: field, Reason: reason, Err: ErrUnsupported}
}

// path joins a JSON path and an index: path("messages", 2) = "messages[2]".
func path(base string, i int) string { return base + "[" + strconv.Itoa(i) + "]" }

// upstreamError reads the message and code of an upstream error body in
// any of the formats (Codex's {"detail"} too).
func upstreamError(body []byte) (msg, code string) {
	if gjson.ValidBytes(body) {
		root := parse(body)
		if e := root.Get("error"); e.IsObject() {
			msg = e.Get("message").String()
			code = e.Get("type").String()
			if code == "" || code == "error" {
				code = e.Get("status").String()
			}
			if code == "" {
				code = e.Get("code").String()
			}
		} else if e.Type == gjson.String {
			msg = e.Str
		}
		if msg == "" {
			msg = root.Get("detail").String()
		}
		if msg == "" {
			msg = root.Get("message").String()
		}
	} else if len(body) > 0 && len(body) <= 512 && !strings.ContainsAny(string(body), "<>") {
		msg = strings.TrimSpace(string(body)) // a short plain-text error; HTML pages are not messages
	}
	return msg, code
}

// Error converts an upstream error reply into the client's shape, keeping
// the upstream's status (which the gateway sends) and message.
func (t *Translator) Error(status int, body []byte) []byte {
	msg, code := upstreamError(body)
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "upstream error"
		}
	}
	return errorBody(t.cfg.Client, status, msg, code)
}

// errorBody is the client format's error object.
func errorBody(f Format, status int, msg, code string) []byte {
	b := make([]byte, 0, len(msg)+96)
	switch f {
	case Messages:
		b = append(b, `{"type":"error","error":{"type":"`...)
		b = append(b, anthropicType(status)...)
		b = append(b, `","message":`...)
		b = appendStr(b, msg)
		return append(b, `}}`...)
	case Gemini:
		b = append(b, `{"error":{"code":`...)
		b = appendInt(b, int64(status))
		b = append(b, `,"message":`...)
		b = appendStr(b, msg)
		b = append(b, `,"status":"`...)
		b = append(b, googleStatus(status)...)
		return append(b, `"}}`...)
	}
	b = append(b, `{"error":{"message":`...)
	b = appendStr(b, msg)
	b = append(b, `,"type":"`...)
	b = append(b, openaiType(status)...)
	b = append(b, `","param":null,"code":`...)
	if code == "" {
		b = append(b, "null"...)
	} else {
		b = appendStr(b, code)
	}
	return append(b, `}}`...)
}

func anthropicType(status int) string {
	switch status {
	case 400, 422:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 503, 529:
		return "overloaded_error"
	case 504:
		return "timeout_error"
	}
	if status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

func openaiType(status int) string {
	switch status {
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 429:
		return "rate_limit_error"
	}
	if status < 500 {
		return "invalid_request_error"
	}
	return "server_error"
}

func googleStatus(status int) string {
	switch status {
	case 400, 413, 422:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 503, 529:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if status < 500 {
		return "FAILED_PRECONDITION"
	}
	return "INTERNAL"
}
