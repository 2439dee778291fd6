package translate

import (
	"strings"

	"github.com/tidwall/gjson"
)

// jsonSchema rewrites a Gemini Schema (an OpenAPI 3.0 subset: upper-case
// type names, "nullable") as the JSON Schema the other formats take. The
// rest of the keywords mean the same in both; propertyOrdering, a Gemini
// hint, is dropped.
func jsonSchema(v gjson.Result) string {
	if !v.IsObject() {
		return `{"type":"object","properties":{}}`
	}
	return string(appendJSONSchema(nil, v, 0))
}

// maxSchemaDepth bounds the recursion; deeper schemas are copied as they
// are (a client's schema is bounded by its body, but not its nesting).
const maxSchemaDepth = 32

func appendJSONSchema(b []byte, v gjson.Result, depth int) []byte {
	if depth > maxSchemaDepth || !v.IsObject() {
		return append(b, v.Raw...)
	}
	nullable := v.Get("nullable").Bool()
	b = append(b, '{')
	fields(v, func(k string, x gjson.Result) bool {
		switch k {
		case "nullable", "propertyOrdering", "property_ordering":
			return true
		case "type":
			t := strings.ToLower(x.String())
			if x.Type != gjson.String {
				b = append(key(b, "type"), x.Raw...)
			} else if nullable {
				b = append(appendStr(append(key(b, "type"), '['), t), `,"null"]`...)
			} else {
				b = appendStr(key(b, "type"), t)
			}
		case "properties", "$defs", "definitions":
			b = append(key(b, k), '{')
			fields(x, func(pk string, pv gjson.Result) bool {
				b = appendJSONSchema(append(appendStr(sep(b), pk), ':'), pv, depth+1)
				return true
			})
			b = append(b, '}')
		case "items", "additionalProperties", "not":
			b = appendJSONSchema(key(b, k), x, depth+1)
		case "anyOf", "any_of", "oneOf", "allOf":
			name := k
			if name == "any_of" {
				name = "anyOf"
			}
			b = append(key(b, name), '[')
			each(x, func(_ int, s gjson.Result) bool {
				b = appendJSONSchema(sep(b), s, depth+1)
				return true
			})
			b = append(b, ']')
		default:
			b = append(append(appendStr(sep(b), k), ':'), x.Raw...)
		}
		return true
	})
	return append(b, '}')
}
