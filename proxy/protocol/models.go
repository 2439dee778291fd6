package protocol

import (
	"strconv"
)

// Model lists answered locally: clients use them only to offer choices, so
// a local list beats a call to an account.
var (
	ClaudeModels = []string{
		"claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5", "claude-opus-4-1",
		"claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5",
	}
	OpenAIModels = []string{
		"gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex", "gpt-5.2", "gpt-5.2-codex",
		"gpt-5.1", "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.1-codex-mini", "gpt-5", "gpt-5-codex", "gpt-5-mini",
	}
	GeminiModels = []string{
		"gemini-3.1-pro-preview", "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-2.5-pro", "gemini-2.5-flash",
	}
)

// OpenAIModelList is GET /v1/models in the OpenAI shape.
func OpenAIModelList(ids []string) []byte {
	b := []byte(`{"object":"list","data":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, `,"object":"model","created":1735689600,"owned_by":"subgate"}`...)
	}
	return append(b, `]}`...)
}

// AnthropicModelList is GET /v1/models in the Anthropic shape; ids is
// never empty (the built-in list comes first).
func AnthropicModelList(ids []string) []byte {
	b := []byte(`{"data":[`)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"model","id":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, `,"display_name":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, `,"created_at":"2025-01-01T00:00:00Z"}`...)
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	b = strconv.AppendQuote(b, ids[0])
	b = append(b, `,"last_id":`...)
	b = strconv.AppendQuote(b, ids[len(ids)-1])
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
		b = strconv.AppendQuote(b, "models/"+id)
		b = append(b, `,"displayName":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, `,"supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}`...)
	}
	return append(b, `]}`...)
}
