package ledger

import (
	"strconv"
	"strings"
)

// Normalize maps the many spellings of a model name to one key: lower
// case, no provider prefix ("anthropic/", "models/", Bedrock's
// "us.anthropic."), no Vertex "@date" or Bedrock "-v1:0", no "-latest" or
// date suffix ("-20250929", "-2025-08-07"), and dots between digits
// turned into dashes so "claude-opus-4.5" equals "claude-opus-4-5" (and
// "gpt-5.1" becomes "gpt-5-1").
func Normalize(model string) string {
	s := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndex(s, "anthropic."); i >= 0 {
		s = s[i+len("anthropic."):]
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	s = stripRevision(s)
	s = strings.TrimSuffix(s, "-latest")
	s = stripDate(s)
	if strings.IndexByte(s, '.') < 0 {
		return s
	}
	b := []byte(s)
	for i := 1; i+1 < len(b); i++ {
		if b[i] == '.' && isDigit(b[i-1]) && isDigit(b[i+1]) {
			b[i] = '-'
		}
	}
	return string(b)
}

// stripDate removes a trailing "-YYYYMMDD" or "-YYYY-MM-DD".
func stripDate(s string) string {
	if n := len(s); n > 9 && s[n-9] == '-' && allDigits(s[n-8:]) && s[n-8:n-6] == "20" {
		return s[:n-9]
	}
	if n := len(s); n > 11 && s[n-11] == '-' && s[n-6] == '-' && s[n-3] == '-' &&
		allDigits(s[n-10:n-6]) && allDigits(s[n-5:n-3]) && allDigits(s[n-2:]) {
		return s[:n-11]
	}
	return s
}

// stripRevision removes a Bedrock revision suffix such as "-v1:0". The
// colon is required: "deepseek-v3" is a model, not a revision.
func stripRevision(s string) string {
	i := strings.LastIndex(s, "-v")
	if i < 0 {
		return s
	}
	if major, minor, ok := strings.Cut(s[i+2:], ":"); ok && allDigits(major) && allDigits(minor) {
		return s[:i]
	}
	return s
}

// isQualifier reports parts dropped from family keys: "gemini-3-pro" is
// the same family as "gemini-3-pro-preview".
func isQualifier(part string) bool {
	return part == "preview" || part == "exp" || part == "latest"
}

// family splits a normalised name into a family key and a version: the
// first run of numeric parts is the version and becomes "#" in the key;
// later numeric parts (preview dates like "-05-20") and qualifiers are
// dropped, and so is a numeric part that cannot be a version component
// (a leading zero or more than three digits: "gpt-4-0613" is gpt-4). "claude-opus-4-5" → ("claude-opus-#", [4 5]);
// "gemini-2-5-flash-preview-05-20" → ("gemini-#-flash", [2 5]).
// A name without a version has no family.
func family(name string) (key string, version []int) {
	parts := strings.Split(name, "-")
	keep := make([]string, 0, len(parts))
	state := 0 // 0 before the version, 1 inside it, 2 after it
	for _, part := range parts {
		n, numeric := 0, false
		if allDigits(part) {
			var err error
			n, err = strconv.Atoi(part)
			numeric = err == nil
		}
		tag := numeric && (len(part) > 3 || (len(part) > 1 && part[0] == '0'))
		switch {
		case tag:
			if state == 1 {
				state = 2
			}
		case numeric && state < 2:
			if state == 0 {
				keep = append(keep, "#")
			}
			state = 1
			version = append(version, n)
		case numeric:
			// a later number: a date or snapshot tag, not part of the family
		case isQualifier(part):
		default:
			if state == 1 {
				state = 2
			}
			keep = append(keep, part)
		}
	}
	if version == nil {
		return "", nil
	}
	return strings.Join(keep, "-"), version
}

// compareVersions orders versions component by component; a prefix is
// older than its extensions ([4] < [4 1]).
func compareVersions(a, b []int) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
