package protocol

import (
	"strconv"
	"strings"
)

// Model lists answered locally: clients use them only to offer choices, so
// a local list beats a call to an account. They name current models,
// newest first; a retired model (claude-sonnet-4-5, retired 2026-11-30)
// is still served when asked for, just not offered.
var (
	ClaudeModels = []string{
		"claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5",
		"claude-opus-5", "claude-sonnet-5", "claude-opus-4-8",
		"claude-opus-4-7", "claude-opus-4-6", "claude-sonnet-4-6",
		"claude-opus-4-5", "claude-haiku-4-5",
	}
	OpenAIModels = []string{
		"gpt-5.5", "gpt-5.5-codex", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex", "gpt-5.2", "gpt-5.2-codex",
		"gpt-5.1", "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.1-codex-mini", "gpt-5", "gpt-5-codex", "gpt-5-mini",
	}
	GeminiModels = []string{
		"gemini-3.1-pro-preview", "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-2.5-pro", "gemini-2.5-flash",
	}
)

// BuiltinModels is the built-in list of a platform's models.
func BuiltinModels(platform string) []string {
	switch platform {
	case "anthropic":
		return ClaudeModels
	case "openai":
		return OpenAIModels
	case "gemini":
		return GeminiModels
	}
	return nil
}

// OpenAIModelList is GET /v1/models in the OpenAI shape.
func OpenAIModelList(ids []string) []byte {
	b := []byte(`{"object":"list","data":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = append(b, jsonString(id)...)
		b = append(b, `,"object":"model","created":1735689600,"owned_by":"subgate"}`...)
	}
	return append(b, `]}`...)
}

// AnthropicModelList is GET /v1/models in the Anthropic shape, one page
// holding every id (has_more false; first_id and last_id null when
// there is none).
func AnthropicModelList(ids []string) []byte {
	b := []byte(`{"data":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"model","id":`...)
		b = append(b, jsonString(id)...)
		b = append(b, `,"display_name":`...)
		b = append(b, jsonString(DisplayName(id))...)
		b = append(b, `,"created_at":"2025-01-01T00:00:00Z"}`...)
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	if len(ids) == 0 {
		return append(b, `null,"last_id":null}`...)
	}
	b = append(b, jsonString(ids[0])...)
	b = append(b, `,"last_id":`...)
	b = append(b, jsonString(ids[len(ids)-1])...)
	return append(b, '}')
}

// GeminiModelList is GET /v1beta/models in the Gemini shape.
func GeminiModelList(ids []string) []byte {
	b := []byte(`{"models":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = append(b, jsonString("models/"+id)...)
		b = append(b, `,"displayName":`...)
		b = append(b, jsonString(DisplayName(id))...)
		b = append(b, `,"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}`...)
	}
	return append(b, `]}`...)
}

// DisplayName is how a model is shown in a client's picker: Claude ids as
// Anthropic names them ("claude-opus-4-6" → "Claude Opus 4.6"), any other
// id as it is. Claude Code labels the models its gateway discovery finds
// with it.
func DisplayName(id string) string {
	rest, ok := strings.CutPrefix(id, "claude-")
	if !ok {
		return id
	}
	parts := strings.Split(rest, "-")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return id
	}
	for _, p := range parts[1:] {
		if _, err := strconv.Atoi(p); err != nil || len(p) > 2 {
			return id // a dated or otherwise unusual id
		}
	}
	return "Claude " + strings.ToUpper(parts[0][:1]) + parts[0][1:] + " " + strings.Join(parts[1:], ".")
}
