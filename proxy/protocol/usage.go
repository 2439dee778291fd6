package protocol

import (
	"github.com/tidwall/gjson"

	"subgate/ledger"
)

// The usage readers: each protocol's usage object into the ledger's
// form, and the generated text of a stream's events, counted as they
// pass so that a stream that ends before its usage can be billed by
// estimate (StreamState.TextBytes).

// anthropicUsage reads a raw usage object. In message_delta the numbers
// are cumulative and the input fields optional: only non-zero values
// replace. It runs on every reply, so it reads the object with the
// scanner, and with gjson only when the scanner balks.
func anthropicUsage(raw string, u *ledger.Usage, delta bool) {
	if raw == "" {
		return
	}
	tmp := *u
	if scanUsage(raw, &tmp, delta) {
		*u = tmp
		return
	}
	gjsonUsage(gjson.Parse(raw), u, delta)
}

// gjsonUsage is anthropicUsage through gjson.
func gjsonUsage(v gjson.Result, u *ledger.Usage, delta bool) {
	if !v.IsObject() {
		return
	}
	set := func(dst *int64, r gjson.Result) {
		if n := r.Int(); dst != nil && (!delta || n != 0) {
			*dst = n
		}
	}
	v.ForEach(func(k, r gjson.Result) bool {
		if k.Str != "cache_creation" {
			set(usageField(u, k.Str), r)
			return true
		}
		r.ForEach(func(k, r gjson.Result) bool {
			set(cacheCreationField(u, k.Str), r)
			return true
		})
		return true
	})
}

// scanUsage is anthropicUsage's fast path; it reports false, having
// possibly written to u, when the object needs gjson.
func scanUsage(raw string, u *ledger.Usage, delta bool) bool {
	set := func(dst *int64, r string) {
		if dst == nil {
			return
		}
		if n := rawInt(r); !delta || n != 0 {
			*dst = n
		}
	}
	nested := true
	ok := eachKey(raw, func(k, r string) bool {
		if k != "cache_creation" {
			set(usageField(u, k), r)
			return true
		}
		if r[0] != '{' {
			return true // gjson's ForEach visits nothing in a scalar
		}
		nested = eachKey(r, func(k, r string) bool {
			set(cacheCreationField(u, k), r)
			return true
		})
		return nested
	})
	return ok && nested
}

// usageField is where a usage object's key goes in u, nil for others.
func usageField(u *ledger.Usage, key string) *int64 {
	switch key {
	case "input_tokens":
		return &u.InputTokens
	case "output_tokens":
		return &u.OutputTokens
	case "cache_creation_input_tokens":
		return &u.CacheCreationTokens
	case "cache_read_input_tokens":
		return &u.CacheReadTokens
	}
	return nil
}

// cacheCreationField is usageField for the cache_creation object.
func cacheCreationField(u *ledger.Usage, key string) *int64 {
	switch key {
	case "ephemeral_5m_input_tokens":
		return &u.CacheCreation5m
	case "ephemeral_1h_input_tokens":
		return &u.CacheCreation1h
	}
	return nil
}

// openaiUsage reads Responses or Chat usage into the ledger's form, where
// cached tokens are not part of input.
func openaiUsage(v gjson.Result, u *ledger.Usage) {
	if !v.Exists() || v.Type == gjson.Null {
		return
	}
	in := v.Get("input_tokens").Int() + v.Get("prompt_tokens").Int()
	cached := v.Get("input_tokens_details.cached_tokens").Int() + v.Get("prompt_tokens_details.cached_tokens").Int()
	u.InputTokens = in - cached
	u.CacheReadTokens = cached
	u.OutputTokens = v.Get("output_tokens").Int() + v.Get("completion_tokens").Int()
}

// geminiUsage reads usageMetadata: cached is a subset of the prompt and
// thinking is billed as output.
func geminiUsage(v gjson.Result, u *ledger.Usage) {
	if !v.Exists() {
		return
	}
	cached := v.Get("cachedContentTokenCount").Int()
	u.InputTokens = v.Get("promptTokenCount").Int() - cached
	u.CacheReadTokens = cached
	u.OutputTokens = v.Get("candidatesTokenCount").Int() + v.Get("thoughtsTokenCount").Int()
}

// stringBytes is the length of a JSON string value's raw form less its
// quotes (escapes counted as written: close enough for an estimate, and
// no allocation to unescape).
func stringBytes(r gjson.Result) int64 {
	if r.Type != gjson.String || len(r.Raw) < 2 {
		return 0
	}
	return int64(len(r.Raw) - 2)
}

// anthropicDeltaBytes is the generated text of a content_block_delta:
// text, thinking or tool input JSON.
func anthropicDeltaBytes(data []byte) int64 {
	d := gjson.Get(view(data), "delta")
	return stringBytes(d.Get("text")) + stringBytes(d.Get("thinking")) + stringBytes(d.Get("partial_json"))
}

// chatDeltaBytes is the generated text of a Chat Completions chunk.
func chatDeltaBytes(d gjson.Result) int64 {
	var n int64
	d.Get("choices").ForEach(func(_, ch gjson.Result) bool {
		delta := ch.Get("delta")
		n += stringBytes(delta.Get("content")) + stringBytes(delta.Get("reasoning_content"))
		delta.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			n += stringBytes(tc.Get("function.arguments"))
			return true
		})
		return true
	})
	return n
}

// geminiPartsBytes is the generated text of a Gemini chunk: text and
// thought parts, and function call arguments.
func geminiPartsBytes(d gjson.Result) int64 {
	var n int64
	d.Get("candidates").ForEach(func(_, c gjson.Result) bool {
		c.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
			n += stringBytes(p.Get("text"))
			if args := p.Get("functionCall.args"); args.Exists() {
				n += int64(len(args.Raw))
			}
			return true
		})
		return true
	})
	return n
}
