package webui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/sched"
)

// maxBody bounds an admin request body.
const maxBody = 1 << 20

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "encode response", "")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// writeError answers {"error":{"message","status"[,"field"]}}.
func writeError(ctx *fasthttp.RequestCtx, status int, msg, field string) {
	e := map[string]any{"message": msg, "status": status}
	if field != "" {
		e["field"] = field
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fail maps an error of Accounts, Keys or Sched to a status. what says
// which operation failed; unexpected causes are logged once, here.
func (h *Handler) fail(ctx *fasthttp.RequestCtx, what string, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		writeError(ctx, fasthttp.StatusBadRequest, fe.Error(), fe.Field)
	case errors.Is(err, ErrNotFound), errors.Is(err, sched.ErrUnknownAccount):
		writeError(ctx, fasthttp.StatusNotFound, what+": "+err.Error(), "")
	case errors.Is(err, ErrReadOnly), errors.Is(err, ErrExists):
		writeError(ctx, fasthttp.StatusConflict, what+": "+err.Error(), "")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(ctx, fasthttp.StatusGatewayTimeout, what+": timed out", "")
	default:
		h.log.Error("admin "+what, "err", err)
		// The admin owns the gateway: the cause helps more than a generic
		// message. Implementations keep secrets out of their errors.
		writeError(ctx, fasthttp.StatusInternalServerError, what+": "+err.Error(), "")
	}
}

// badField answers 400 naming field.
func badField(ctx *fasthttp.RequestCtx, field, msg string) {
	writeError(ctx, fasthttp.StatusBadRequest, field+": "+msg, field)
}

// decode reads the JSON body into dst, which may hold defaults or current
// values: fields absent from the body keep them. Unknown fields are
// rejected. It returns the names of the fields present. On failure it has
// answered 400 and returns ok false.
func decode(ctx *fasthttp.RequestCtx, dst any) (present map[string]bool, ok bool) {
	body := ctx.PostBody()
	if len(body) > maxBody {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "request body too large", "")
		return nil, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "body: want a JSON object", "")
		return nil, false
	}
	present = make(map[string]bool, len(raw))
	for k := range raw {
		present[k] = true
	}
	resetMaps(dst, present)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		field, msg := jsonErrorField(err)
		writeError(ctx, fasthttp.StatusBadRequest, field+": "+msg, field)
		return nil, false
	}
	return present, true
}

// resetMaps clears a present model_map before decoding, so the body
// replaces the map instead of merging into the current one.
func resetMaps(dst any, present map[string]bool) {
	if !present["model_map"] {
		return
	}
	switch v := dst.(type) {
	case *accountInput:
		v.ModelMap = nil
	case *oauthFinishInput:
		v.ModelMap = nil
	}
}

// jsonErrorField names the field of a decoding error.
func jsonErrorField(err error) (field, msg string) {
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te):
		return te.Field, "want " + te.Type.String()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return f, "unknown field"
	case errors.As(err, &pe):
		return "expires_at", "want a time like 2026-12-31T23:59:00Z"
	}
	var tf *timeFieldError
	if errors.As(err, &tf) {
		return tf.field, tf.msg
	}
	return "body", err.Error()
}

// timeFieldError is returned by optTime's decoder.
type timeFieldError struct{ field, msg string }

func (e *timeFieldError) Error() string { return e.field + ": " + e.msg }

// optTime is a time that may be null or "" (zero). It decodes RFC 3339 or
// a bare date (midnight UTC) and encodes zero as null.
type optTime time.Time

func (t *optTime) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" || s == `""` {
		*t = optTime{}
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return &timeFieldError{"expires_at", "want a time string or null"}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if v, err := time.Parse(layout, str); err == nil {
			*t = optTime(v)
			return nil
		}
	}
	return &timeFieldError{"expires_at", fmt.Sprintf("cannot read %q as a time", str)}
}

func (t optTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t))
}

// timePtr is nil for the zero time, so JSON shows null.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nonNil returns s, or an empty slice for JSON's sake.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
