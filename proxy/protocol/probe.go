package protocol

import (
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Claude Code's side requests that need no model: answering them locally
// spares the subscription (clients.md).
const (
	titlePrompt = "Please write a 5-10 word title for the following conversation:"
	topicPrompt = "nalyze if this message indicates a new conversation topic"
)

// ProbeReply returns the canned text for a Claude Code probe, or "" when
// the request is a real one.
func ProbeReply(c *Call) string {
	if c.Proto.Platform() != "anthropic" || c.Endpoint != EndpointGenerate {
		return ""
	}
	body := gjson.Parse(view(c.Body))
	msgs := body.Get("messages").Array()
	if len(msgs) != 1 {
		return ""
	}
	user := textOf(msgs[0].Get("content"))
	system := textOf(body.Get("system"))
	switch {
	case strings.TrimSpace(user) == "Warmup":
		return "Warmup complete."
	case c.MaxTokens == 1 && strings.TrimSpace(user) == "quota":
		return "ok"
	case strings.Contains(system, topicPrompt) || strings.Contains(user, topicPrompt):
		return `{"isNewTopic": false, "title": null}`
	case strings.Contains(user, titlePrompt) || strings.Contains(system, titlePrompt):
		return "Conversation"
	}
	return ""
}

// textOf joins the text of a string or an array of content blocks.
func textOf(v gjson.Result) string {
	if v.Type == gjson.String {
		return v.Str
	}
	var b strings.Builder
	v.ForEach(func(_, blk gjson.Result) bool {
		b.WriteString(blk.Get("text").String())
		return true
	})
	return b.String()
}

// ProbeAnswer is a Messages reply from model carrying text, the whole
// message or (stream) its events, with the content type to send it as.
func ProbeAnswer(model, text string, stream bool) (contentType, body string) {
	id := "msg_subgate_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	content := `{"type":"text","text":` + string(jsonString(text)) + `}`
	usage := `{"input_tokens":0,"output_tokens":0}`
	if !stream {
		return "application/json", `{"id":"` + id + `","type":"message","role":"assistant","model":` + string(jsonString(model)) +
			`,"content":[` + content + `],"stop_reason":"end_turn","stop_sequence":null,"usage":` + usage + `}`
	}
	var b strings.Builder
	ev := func(name, data string) { b.WriteString("event: " + name + "\ndata: " + data + "\n\n") }
	ev("message_start", `{"type":"message_start","message":{"id":"`+id+`","type":"message","role":"assistant","model":`+string(jsonString(model))+`,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`+usage+`}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(jsonString(text))+`}}`)
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":0}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return "text/event-stream", b.String()
}
