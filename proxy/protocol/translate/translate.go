package translate

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Format is an API family's wire format.
type Format uint8

// Formats. Code Assist is Gemini: its envelope is the gateway's to add and
// remove.
const (
	Messages  Format = iota + 1 // Anthropic Messages
	Responses                   // OpenAI Responses (API and ChatGPT Codex backend)
	Chat                        // OpenAI Chat Completions
	Gemini                      // Gemini generateContent
)

func (f Format) String() string {
	switch f {
	case Messages:
		return "Anthropic Messages"
	case Responses:
		return "OpenAI Responses"
	case Chat:
		return "OpenAI Chat Completions"
	case Gemini:
		return "Gemini"
	}
	return "unknown format"
}

// Config describes one translated request.
type Config struct {
	Client   Format // what the client speaks
	Upstream Format // what the account serves: Messages, Responses or Gemini
	// ClientModel is written back into every reply; UpstreamModel goes
	// into the upstream body (Gemini's model is in its URL instead).
	ClientModel   string
	UpstreamModel string
	// Stream is whether the client asked for a stream; UpstreamStream
	// whether the upstream call streams (the Codex backend always does).
	Stream         bool
	UpstreamStream bool
	// Codex marks the ChatGPT Codex backend, which rejects
	// max_output_tokens, temperature and top_p.
	Codex bool
	// KeptTurn says the gateway resolved a Responses previous_response_id
	// itself (the input already holds that turn): the field is dropped
	// instead of refused.
	KeptTurn bool
	// MaxTokens is the output limit sent to an Anthropic upstream when the
	// client names none (Anthropic requires one). Default 16384.
	MaxTokens int64
	// MaxHeld bounds what a stream holds for a Responses client, whose
	// events repeat each item's whole content (default 16 MiB). A reply
	// beyond it ends with an error event.
	MaxHeld int
	// Now stamps created times (default time.Now).
	Now func() time.Time
}

// Usage is the upstream's token count in the ledger's terms (the fields of
// ledger.Usage, so one converts to the other): input excludes cached
// tokens, output includes reasoning.
type Usage struct {
	InputTokens         int64 `json:"input_tokens"`
	OutputTokens        int64 `json:"output_tokens"`
	CacheCreationTokens int64 `json:"cache_creation_tokens"`
	CacheCreation5m     int64 `json:"cache_creation_5m_tokens,omitempty"`
	CacheCreation1h     int64 `json:"cache_creation_1h_tokens,omitempty"`
	CacheReadTokens     int64 `json:"cache_read_tokens"`
}

// usage is Usage plus what clients are shown but the ledger does not keep.
type usage struct {
	Usage
	reasoning int64 // part of OutputTokens
}

// prompt is the whole prompt, as OpenAI and Gemini count it.
func (u *usage) prompt() int64 {
	return u.InputTokens + u.CacheReadTokens + u.CacheCreationTokens
}

// Translator carries one request from the client's format to the
// upstream's and its reply back. It is not safe for concurrent use: the
// gateway owns one per request. Request must run first: it learns what the
// reply needs (tool names, include_usage).
type Translator struct {
	cfg          Config
	names        map[string]string // upstream tool name → client's, when shortened
	custom       map[string]bool   // client tool names with freeform input
	includeUsage bool
	usage        usage
}

// New checks the pair and returns a Translator for one request.
func New(cfg Config) (*Translator, error) {
	switch {
	case cfg.Client < Messages || cfg.Client > Gemini:
		return nil, fmt.Errorf("translate: unknown client format %d", cfg.Client)
	case cfg.Upstream == Chat || cfg.Upstream < Messages || cfg.Upstream > Gemini:
		return nil, fmt.Errorf("translate: %s is not an upstream format", cfg.Upstream)
	case cfg.Client == cfg.Upstream:
		return nil, fmt.Errorf("translate: %s needs no translation", cfg.Client)
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 16384
	}
	if cfg.MaxHeld <= 0 {
		cfg.MaxHeld = 16 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Translator{cfg: cfg}, nil
}

// Request translates the client's body into the upstream's. An error is an
// *Error naming the client's field that cannot be carried; the gateway
// answers it with a 400.
func (t *Translator) Request(body []byte) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, &Error{Reason: "the body is not valid JSON", Err: ErrUnsupported}
	}
	root := parse(body)
	if !root.IsObject() {
		return nil, &Error{Reason: "the body is not a JSON object", Err: ErrUnsupported}
	}
	var r request
	var err error
	switch t.cfg.Client {
	case Messages:
		err = decodeMessagesRequest(root, &r)
	case Responses:
		err = decodeResponsesRequest(root, &r, t.cfg.KeptTurn)
	case Chat:
		t.includeUsage = root.Get("stream_options.include_usage").Bool()
		err = decodeChatRequest(root, &r)
	case Gemini:
		err = decodeGeminiRequest(root, &r)
	}
	if err != nil {
		return nil, err
	}
	t.learnTools(&r)
	switch t.cfg.Upstream {
	case Messages:
		return t.encodeMessagesRequest(&r)
	case Responses:
		return t.encodeResponsesRequest(&r)
	default:
		return t.encodeGeminiRequest(&r)
	}
}

// learnTools shortens tool names the upstream would refuse and remembers
// how to name them back, and which tools take freeform input.
func (t *Translator) learnTools(r *request) {
	rename := func(name string) string {
		if t.cfg.Upstream == Messages {
			return name
		}
		short := shortName(name)
		if short != name {
			if t.names == nil {
				t.names = map[string]string{}
			}
			t.names[short] = strings.Clone(name)
		}
		return short
	}
	for i := range r.tools {
		if r.tools[i].custom {
			if t.custom == nil {
				t.custom = map[string]bool{}
			}
			t.custom[strings.Clone(r.tools[i].name)] = true
		}
		r.tools[i].name = rename(r.tools[i].name)
	}
	if r.choice == choiceTool {
		r.choiceName = rename(r.choiceName)
	}
	for i := range r.messages {
		for j := range r.messages[i].parts {
			if p := &r.messages[i].parts[j]; p.kind == kindCall || p.kind == kindResult {
				p.name = rename(p.name)
			}
		}
	}
}

// clientName is the client's name for an upstream tool name.
func (t *Translator) clientName(name string) string {
	if n, ok := t.names[name]; ok {
		return n
	}
	return name
}

// Response translates a buffered upstream reply (or a Responses object a
// collector built from a stream) into the client's. The usage it read is
// then in Usage.
func (t *Translator) Response(body []byte) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("translate: upstream reply is not valid JSON")
	}
	root := parse(body)
	var r response
	switch t.cfg.Upstream {
	case Messages:
		decodeMessagesResponse(root, &r)
	case Responses:
		decodeResponsesResponse(root, &r)
	default:
		decodeGeminiResponse(root, &r)
	}
	for i := range r.parts {
		if p := &r.parts[i]; p.kind == kindCall {
			p.name = t.clientName(p.name)
			p.custom = t.custom[p.name]
		}
	}
	t.usage = r.usage
	if r.id == "" {
		r.id = newID()
	}
	switch t.cfg.Client {
	case Messages:
		return t.encodeMessagesResponse(&r), nil
	case Responses:
		return t.encodeResponsesResponse(&r), nil
	case Chat:
		return t.encodeChatResponse(&r), nil
	default:
		return t.encodeGeminiResponse(&r), nil
	}
}

// Usage is what the translator learned of the upstream's usage from the
// last Response or from the stream.
func (t *Translator) Usage() Usage { return t.usage.Usage }

// newID is a random id for replies whose upstream gave none.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
