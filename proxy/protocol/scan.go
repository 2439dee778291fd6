package protocol

import (
	"strings"

	"github.com/tidwall/gjson"
)

// A minimal JSON scanner for the request bodies the hot path reads: it
// finds an object's keys and the extent of their values without decoding
// them. Strings, which are most of a prompt's bytes, are skipped with
// strings.IndexByte rather than byte by byte, so walking a large body
// costs a fraction of a general parser's pass. It is strict where gjson is
// lenient: whenever it meets something it does not expect (a key with an
// escape, a missing colon or comma, a truncated value) it reports failure
// and the caller falls back to gjson, so answers never differ.

// eachKey calls fn with every key of the object in s and its raw value, in
// order, until fn returns false. It reports whether s was read without
// surprises (and, unless fn stopped early, is one object and nothing
// more); on false the caller must not trust what fn saw.
func eachKey(s string, fn func(key, raw string) bool) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for i < len(s) {
		if s[i] != '"' {
			return false
		}
		end, ok := skipString(s, i)
		if !ok {
			return false
		}
		key := s[i+1 : end-1]
		if strings.IndexByte(key, '\\') >= 0 {
			return false // an escaped key: let gjson decode it
		}
		i = skipSpace(s, end)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		vend, ok := skipValue(s, i)
		if !ok {
			return false
		}
		if !fn(key, s[i:vend]) {
			return true
		}
		i = skipSpace(s, vend)
		if i >= len(s) {
			return false
		}
		switch s[i] {
		case '}':
			// Trailing bytes are left to gjson, which reads them its own way.
			return skipSpace(s, i+1) == len(s)
		case ',':
			i = skipSpace(s, i+1)
		default:
			return false
		}
	}
	return false
}

// eachTopKey calls take with every top-level key of the object in body
// and its raw value: through the scanner when it reads the body, else
// through gjson, after reset has cleared what a partial scan took.
func eachTopKey(body string, take func(key, raw string) bool, reset func()) {
	if eachKey(body, take) {
		return
	}
	reset()
	gjson.Parse(body).ForEach(func(k, v gjson.Result) bool { return take(k.Str, v.Raw) })
}

// topValue returns the raw value of the first top-level key named key (a
// plain name, no gjson path syntax) in the object body, "" when absent.
func topValue(body, key string) string {
	var v string
	if eachKey(body, func(k, raw string) bool {
		if k == key {
			v = raw
			return false
		}
		return true
	}) {
		return v
	}
	return gjson.Get(body, key).Raw
}

// rawInt is gjson's Result.Int of a raw JSON value, without gjson for the
// plain integers that token counts are.
func rawInt(raw string) int64 {
	if len(raw) > 0 && len(raw) <= 15 {
		var n int64
		i := 0
		if raw[0] == '-' {
			i = 1
		}
		if i < len(raw) {
			for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
				n = n*10 + int64(raw[i]-'0')
			}
			if i == len(raw) {
				if raw[0] == '-' {
					return -n
				}
				return n
			}
		}
	}
	return gjson.Parse(raw).Int()
}

// firstElement returns the raw first element of the array in s.
func firstElement(s string) (string, bool) {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '[' {
		return "", false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == ']' {
		return "", true
	}
	end, ok := skipValue(s, i)
	if !ok {
		return "", false
	}
	return s[i:end], true
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at s[i] == '"'.
func skipString(s string, i int) (int, bool) {
	j := i + 1
	for {
		k := strings.IndexByte(s[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		n := 0 // backslashes right before the quote: odd means escaped
		for b := q - 1; b > i && s[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

// skipValue returns the index after the value starting at s[i].
func skipValue(s string, i int) (int, bool) {
	return skipNested(s, i, 0)
}

// maxDepth bounds the nesting the scanner follows; deeper bodies are left
// to gjson (and the recursion stays shallow).
const maxDepth = 64

// skipNested reads one value at nesting depth; containers are checked for
// structure (colons, commas, matching brackets) so that whatever the
// scanner accepts, gjson reads the same way.
func skipNested(s string, i, depth int) (int, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{':
		if depth == maxDepth {
			return 0, false
		}
		j := skipSpace(s, i+1)
		if j < len(s) && s[j] == '}' {
			return j + 1, true
		}
		for {
			if j >= len(s) || s[j] != '"' {
				return 0, false
			}
			end, ok := skipString(s, j)
			if !ok {
				return 0, false
			}
			j = skipSpace(s, end)
			if j >= len(s) || s[j] != ':' {
				return 0, false
			}
			if j, ok = skipNested(s, skipSpace(s, j+1), depth+1); !ok {
				return 0, false
			}
			j = skipSpace(s, j)
			if j >= len(s) {
				return 0, false
			}
			if s[j] == '}' {
				return j + 1, true
			}
			if s[j] != ',' {
				return 0, false
			}
			j = skipSpace(s, j+1)
		}
	case '[':
		if depth == maxDepth {
			return 0, false
		}
		j := skipSpace(s, i+1)
		if j < len(s) && s[j] == ']' {
			return j + 1, true
		}
		for {
			var ok bool
			if j, ok = skipNested(s, j, depth+1); !ok {
				return 0, false
			}
			j = skipSpace(s, j)
			if j >= len(s) {
				return 0, false
			}
			if s[j] == ']' {
				return j + 1, true
			}
			if s[j] != ',' {
				return 0, false
			}
			j = skipSpace(s, j+1)
		}
	}
	switch {
	case strings.HasPrefix(s[i:], "true"):
		return i + 4, true
	case strings.HasPrefix(s[i:], "false"):
		return i + 5, true
	case strings.HasPrefix(s[i:], "null"):
		return i + 4, true
	}
	return skipNumber(s, i)
}

// skipNumber reads a JSON number strictly: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func skipNumber(s string, i int) (int, bool) {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	switch {
	case j < len(s) && s[j] == '0':
		j++
	case j < len(s) && '1' <= s[j] && s[j] <= '9':
		j = skipDigits(s, j)
	default:
		return 0, false
	}
	if j < len(s) && s[j] == '.' {
		k := skipDigits(s, j+1)
		if k == j+1 {
			return 0, false
		}
		j = k
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := skipDigits(s, j)
		if k == j {
			return 0, false
		}
		j = k
	}
	// A number ends at a delimiter; "12abc" is not one.
	if j < len(s) {
		switch s[j] {
		case ',', '}', ']', ' ', '\n', '\r', '\t':
		default:
			return 0, false
		}
	}
	return j, true
}

func skipDigits(s string, j int) int {
	for j < len(s) && '0' <= s[j] && s[j] <= '9' {
		j++
	}
	return j
}
