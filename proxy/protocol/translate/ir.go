package translate

import (
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"
)

// The intermediate representation: what every format's request and reply
// have in common. A decoder fills it from one format, an encoder writes it
// in another; see doc.go for why.

type role uint8

const (
	roleUser role = iota
	roleAssistant
)

type kind uint8

const (
	kindText     kind = iota
	kindImage         // mime + data (base64), or url
	kindFile          // a document: mime + data (base64), name is the file name
	kindThinking      // text is the reasoning shown; sig makes it replayable
	kindRedacted      // Anthropic redacted thinking: sig.val is its data
	kindCall          // a tool call: id, name, args (a JSON object)
	kindResult        // a tool's result: id, name, content, isError
)

// part is one piece of a message: a content block, an item or a part,
// depending on the format.
type part struct {
	kind    kind
	text    string
	mime    string
	data    string // base64
	url     string
	name    string
	id      string
	args    string // raw JSON object; a custom tool's input is {"input":"..."}
	custom  bool   // a call of a freeform (Responses "custom") tool
	sig     sig
	content []part // a result's text and image parts
	isError bool
	field   string // the client's field of a media URL, for errors
}

type message struct {
	role  role
	parts []part
}

// tool is a function the model may call.
type tool struct {
	name, desc string
	schema     string // raw JSON Schema of the arguments
	custom     bool   // freeform input: the schema is the {"input": string} wrapper
}

type choiceMode uint8

const (
	choiceUnset choiceMode = iota
	choiceAuto
	choiceAny  // must call some tool
	choiceNone // must not call tools
	choiceTool // must call the named tool
)

// thinking is the request's reasoning setting in both of its common forms:
// a token budget (Anthropic, Gemini) or an effort level (OpenAI).
type thinking struct {
	on     bool
	off    bool   // explicitly disabled
	budget int64  // tokens, 0 when the client gave an effort or nothing
	effort string // low, medium, high…; "" when the client gave a budget
}

// request is a generation request in the common form.
type request struct {
	system      []string
	messages    []message
	tools       []tool
	choice      choiceMode
	choiceName  string
	parallel    int8 // 0 unset, 1 allowed, -1 one call at a time
	maxTokens   int64
	temperature string // raw JSON numbers, "" when unset
	topP        string
	topK        string
	stop        []string
	stopField   string // the client's field that held stop
	think       thinking
	schema      string // structured output: a raw JSON Schema
	schemaName  string
	jsonObject  bool   // structured output without a schema
	formatField string // the client's field that asked for structured output
}

// add appends p to the conversation, merging it into the last message when
// the role is the same: every format but Anthropic's splits a turn into
// several items, and Gemini and Anthropic want turns to alternate.
func (r *request) add(ro role, p part) {
	if n := len(r.messages); n > 0 && r.messages[n-1].role == ro {
		r.messages[n-1].parts = append(r.messages[n-1].parts, p)
		return
	}
	r.messages = append(r.messages, message{role: ro, parts: []part{p}})
}

type stopReason uint8

const (
	stopEnd stopReason = iota
	stopMax
	stopSequence
	stopTool
	stopRefusal
	stopPause
)

// response is a whole reply in the common form.
type response struct {
	id    string
	parts []part
	stop  stopReason
	usage usage
}

// The opaque round-trip data (see docs/translation.md): an Anthropic
// thinking signature, an OpenAI reasoning item's encrypted_content, a
// Gemini thoughtSignature. Only the family that issued one can read it, so
// each travels tagged with its family; a foreign one is written into the
// client's field behind a prefix and dropped when a request goes to an
// upstream that cannot read it.
type sig struct {
	fam Format // 0: none
	val string
}

const (
	prefixAnthropic = "anthropic:"
	prefixRedacted  = "anthropic-redacted:"
	prefixOpenAI    = "openai:"
	prefixGemini    = "gemini:"
	// geminiMagic marks a foreign value inside a Gemini thoughtSignature,
	// which is a bytes field and must stay valid base64: the value is
	// base64(geminiMagicRaw + carrier). The magic is six bytes, so its
	// base64 is a fixed prefix.
	geminiMagicRaw = "subgt:"
	geminiMagic    = "c3ViZ3Q6"
)

// carrier is s written into a string field of a foreign format.
func (s sig) carrier(redacted bool) string {
	switch s.fam {
	case Messages:
		if redacted {
			return prefixRedacted + s.val
		}
		return prefixAnthropic + s.val
	case Responses:
		return prefixOpenAI + s.val
	case Gemini:
		return prefixGemini + s.val
	}
	return ""
}

// parseCarrier reads a string field of format native: a prefixed foreign
// value, or the field's own. It reports whether the value is redacted
// Anthropic thinking.
func parseCarrier(v string, native Format) (sig, bool) {
	if v == "" {
		return sig{}, false
	}
	switch {
	case strings.HasPrefix(v, prefixRedacted):
		return sig{Messages, v[len(prefixRedacted):]}, true
	case strings.HasPrefix(v, prefixAnthropic):
		return sig{Messages, v[len(prefixAnthropic):]}, false
	case strings.HasPrefix(v, prefixOpenAI):
		return sig{Responses, v[len(prefixOpenAI):]}, false
	case strings.HasPrefix(v, prefixGemini):
		return sig{Gemini, v[len(prefixGemini):]}, false
	}
	return sig{native, v}, false
}

// geminiCarrier is s written into a Gemini thoughtSignature.
func (s sig) geminiCarrier(redacted bool) string {
	if s.fam == Gemini {
		return s.val
	}
	return base64.StdEncoding.EncodeToString([]byte(geminiMagicRaw + s.carrier(redacted)))
}

// parseGeminiCarrier reads a thoughtSignature.
func parseGeminiCarrier(v string) (sig, bool) {
	if !strings.HasPrefix(v, geminiMagic) {
		if v == "" {
			return sig{}, false
		}
		return sig{Gemini, v}, false
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil || !strings.HasPrefix(string(raw), geminiMagicRaw) {
		return sig{}, false // damaged: no upstream can use it
	}
	s, red := parseCarrier(string(raw[len(geminiMagicRaw):]), 0)
	if s.fam == 0 || s.fam == Gemini {
		return sig{}, false
	}
	return s, red
}

// A Gemini function call's thoughtSignature has no field of its own in the
// other formats, so it travels inside the tool call id, which every client
// echoes back verbatim: "sg" <length> <mode> <signature> "_" <id>, where the
// signature (standard base64, as Google's JSON writes bytes) is rewritten
// in the URL-safe alphabet without padding (mode "s"), or kept as it is
// when it already is URL-safe (mode "u"). The id then stays within
// [A-Za-z0-9_-], which Anthropic requires of tool ids.

// callID is the client-facing id of a call with base id and signature s.
func callID(base string, s sig) string {
	if s.fam != Gemini || s.val == "" {
		return base
	}
	mode, u := "u", s.val
	if strings.ContainsAny(u, "+/=") {
		if strings.ContainsAny(u, "-_") || len(u)%4 != 0 {
			return base // not standard base64: not a Gemini signature
		}
		mode = "s"
		u = strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(u, "="))
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return base
		}
	}
	return "sg" + strconv.Itoa(len(u)) + mode + u + "_" + base
}

// parseCallID splits a client's tool call id into the base id and the
// Gemini signature it carries, if any.
func parseCallID(id string) (string, sig) {
	if !strings.HasPrefix(id, "sg") {
		return id, sig{}
	}
	i := 2
	for i < len(id) && id[i] >= '0' && id[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(id[2:i])
	end := i + 1 + n
	if err != nil || n <= 0 || n > len(id) || end >= len(id) || id[end] != '_' || (id[i] != 's' && id[i] != 'u') {
		return id, sig{}
	}
	u := id[i+1 : end]
	if id[i] == 's' {
		u = strings.NewReplacer("-", "+", "_", "/").Replace(u)
		if m := len(u) % 4; m != 0 {
			u += "===="[m:]
		}
	}
	return id[end+1:], sig{Gemini, u}
}

// maxToolName is the longest function name OpenAI and Gemini accept;
// Anthropic allows longer ones (MCP tools reach them).
const maxToolName = 64

// shortName fits name into maxToolName, keeping it unique and stable: the
// same long name always shortens the same way, in every turn.
func shortName(name string) string {
	if len(name) <= maxToolName {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	sum := strconv.FormatUint(uint64(h.Sum32()), 16)
	return name[:maxToolName-1-len(sum)] + "_" + sum
}

// Effort levels and token budgets, both ways (docs/translation.md).
func effortBudget(effort string) int64 {
	switch effort {
	case "minimal":
		return 1024
	case "low":
		return 2048
	case "medium", "":
		return 8192
	case "high":
		return 24576
	}
	return 32768 // xhigh, max
}

func budgetEffort(budget int64) string {
	switch {
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}
