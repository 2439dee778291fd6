// Package jsonstr writes JSON strings by hand: the one escaper of the
// gateway's hand-written JSON (error bodies, translated bodies, the
// request log, the identity rewrite), so that no two of them disagree.
//
// The output is byte for byte what slog's JSONHandler writes, and the
// same string encoding/json writes with HTML escaping off (which spells
// \b and \f by name): quote, backslash and control characters escaped
// (\n, \r, \t by name, the rest as \u00XX), each byte of invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped, everything else as it is. The result
// is always valid JSON.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// Append appends s as a quoted JSON string.
func Append(b []byte, s string) []byte {
	b = append(b, '"')
	b = AppendEscaped(b, s)
	return append(b, '"')
}

// Quote returns s as a quoted JSON string.
func Quote(s string) []byte { return Append(make([]byte, 0, len(s)+2), s) }

// AppendEscaped appends s escaped for the inside of a JSON string,
// without the quotes.
func AppendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}
