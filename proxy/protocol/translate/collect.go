package translate

import (
	"sort"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// Collector rebuilds a Responses object from a Responses stream, for a
// non-stream client served by a stream-only upstream (the Codex backend).
// The Codex backend's terminal event may carry "output": [] although the
// items streamed (with store false it keeps nothing to echo), so the
// collector keeps every response.output_item.done item and fills the
// output from them when the terminal event's is empty. Feed it the
// upstream's events, then pass Response's body to Translator.Response, or
// to the client as it is when both speak Responses.
type Collector struct {
	max   int
	size  int
	final []byte
	items []collected
	err   string
	over  bool
}

type collected struct {
	index int64
	raw   []byte
}

// NewCollector returns a collector holding at most max bytes of items
// (0: 16 MiB).
func NewCollector(max int) *Collector {
	if max <= 0 {
		max = 16 << 20
	}
	return &Collector{max: max}
}

// Event reads one upstream event; it copies what it keeps.
func (c *Collector) Event(event, data []byte) {
	if c.final != nil {
		return
	}
	v, name, ok := parseEvent(string(event), data)
	if !ok {
		return
	}
	switch name {
	case "response.output_item.done":
		it := v.Get("item")
		if c.size += len(it.Raw); c.size > c.max {
			c.over = true
			return
		}
		c.items = append(c.items, collected{v.Get("output_index").Int(), []byte(it.Raw)})
	case "response.completed", "response.incomplete", "response.failed":
		c.final = []byte(v.Get("response").Raw)
		if name == "response.failed" {
			c.err = strings.Clone(v.Get("response.error.message").String())
			if c.err == "" {
				c.err = "upstream error"
			}
		}
	case "error":
		c.err = strings.Clone(v.Get("message").String())
		if c.err == "" {
			c.err = "upstream error"
		}
	}
}

// Response is the rebuilt response object; ok is false until a terminal
// event arrived, or when the reply outgrew the collector.
func (c *Collector) Response() (body []byte, ok bool) {
	if c.final == nil || c.over {
		return nil, false
	}
	if out := gjson.GetBytes(c.final, "output"); len(c.items) == 0 || (out.IsArray() && len(out.Array()) > 0) {
		return c.final, true
	}
	sort.SliceStable(c.items, func(i, j int) bool { return c.items[i].index < c.items[j].index })
	arr := make([]byte, 0, c.size+len(c.items)+2)
	arr = append(arr, '[')
	for _, it := range c.items {
		arr = append(sep(arr), it.raw...)
	}
	arr = append(arr, ']')
	b, err := sjson.SetRawBytes(c.final, "output", arr)
	if err != nil {
		return c.final, true
	}
	return b, true
}

// Err is the upstream's error message when the stream ended with one.
func (c *Collector) Err() string { return c.err }
