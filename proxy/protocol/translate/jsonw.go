package translate

import (
	"strconv"
	"subgate/proxy/internal/jsonstr"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The encoders write JSON by appending fragments to a byte slice: one pass,
// no intermediate maps, no reflection. These helpers are the only places
// that escape text.

// parse reads JSON without copying it: the strings it yields point into
// b. Whatever outlives the call that handed b in (stream state across
// events, tool names between Request and the reply) is cloned.
func parse(b []byte) gjson.Result {
	return gjson.Parse(unsafe.String(unsafe.SliceData(b), len(b)))
}

// parseEvent parses an upstream stream event's data and names the event
// by its "type" when the stream sent no event line; ok is false when the
// data is not JSON.
func parseEvent(event string, data []byte) (v gjson.Result, name string, ok bool) {
	if !gjson.ValidBytes(data) {
		return gjson.Result{}, "", false
	}
	v = parse(data)
	if event == "" {
		event = v.Get("type").String()
	}
	return v, event, true
}

// appendStr appends s as a JSON string, quotes included.
func appendStr(b []byte, s string) []byte { return jsonstr.Append(b, s) }

// appendEscaped appends the JSON escape of s without quotes.
func appendEscaped(b []byte, s string) []byte { return jsonstr.AppendEscaped(b, s) }

// appendInt appends n in decimal.
func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendRaw appends a raw JSON value, or def when raw is empty.
func appendRaw(b []byte, raw, def string) []byte {
	if raw == "" {
		return append(b, def...)
	}
	return append(b, raw...)
}

// sep appends a comma unless b ends an opening bracket or brace: it lets
// loops write lists without tracking the first element.
func sep(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '[' && b[n-1] != '{' {
		return append(b, ',')
	}
	return b
}

// key appends a separator and "name": to an object being written.
func key(b []byte, name string) []byte {
	b = sep(b)
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// strField appends "name":"value" when value is not empty.
func strField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	return appendStr(key(b, name), value)
}

// rawField appends "name":raw when raw is not empty.
func rawField(b []byte, name, raw string) []byte {
	if raw == "" {
		return b
	}
	return append(key(b, name), raw...)
}

// intField appends "name":n.
func intField(b []byte, name string, n int64) []byte {
	return appendInt(key(b, name), n)
}

// str is a JSON value as a string: the string itself, else its raw text.
// Tool results and arguments arrive either way from clients.
func str(r gjson.Result) string {
	if r.Type == gjson.String {
		return r.Str
	}
	return r.Raw
}

// number returns the raw text of a numeric value, "" for anything else, so
// sampling knobs are copied without a float round trip.
func number(r gjson.Result) string {
	if r.Type == gjson.Number {
		return r.Raw
	}
	return ""
}

// get returns the first of names present in r: Gemini's JSON accepts both
// camelCase and the proto's snake_case field names.
func get(r gjson.Result, names ...string) gjson.Result {
	for _, n := range names {
		if v := r.Get(n); v.Exists() {
			return v
		}
	}
	return gjson.Result{}
}

// isObject reports whether raw is a JSON object.
func isObject(raw string) bool {
	return gjson.Valid(raw) && gjson.Parse(raw).IsObject()
}

// each calls fn with every element of an array and its index until fn
// returns false; anything but an array has no elements (gjson's ForEach
// would call fn once with a scalar).
func each(v gjson.Result, fn func(i int, e gjson.Result) bool) {
	if !v.IsArray() {
		return
	}
	i := 0
	v.ForEach(func(_, e gjson.Result) bool {
		ok := fn(i, e)
		i++
		return ok
	})
}

// eachErr calls fn with every element of an array and its index until fn
// returns an error, which it returns.
func eachErr(v gjson.Result, fn func(i int, e gjson.Result) error) (err error) {
	each(v, func(i int, e gjson.Result) bool { err = fn(i, e); return err == nil })
	return err
}

// fieldsErr calls fn with every key and value of an object until fn
// returns an error, which it returns.
func fieldsErr(v gjson.Result, fn func(k string, e gjson.Result) error) (err error) {
	fields(v, func(k string, e gjson.Result) bool { err = fn(k, e); return err == nil })
	return err
}

// fields calls fn with every key and value of an object until fn returns
// false; anything but an object has none.
func fields(v gjson.Result, fn func(k string, e gjson.Result) bool) {
	if !v.IsObject() {
		return
	}
	v.ForEach(func(k, e gjson.Result) bool { return fn(k.Str, e) })
}
