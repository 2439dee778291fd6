package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestClientErrorShapes(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	tests := []struct {
		name       string
		body       string
		hdr        []string
		wantStatus int
		wantType   string
	}{
		{"no key", simpleBody, []string{"x-api-key", ""}, 401, "authentication_error"},
		{"wrong key", simpleBody, []string{"x-api-key", "sk-sg-wrong"}, 401, "authentication_error"},
		{"bearer key works", simpleBody, []string{"x-api-key", "", "authorization", "Bearer " + testKey}, 200, ""},
		{"not json", "hello", nil, 400, "invalid_request_error"},
		{"no model", `{"messages":[]}`, nil, 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.post("/v1/messages", tt.body, tt.hdr...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantType == "" {
				return
			}
			if got := gjson.GetBytes(body, "type").String(); got != "error" {
				t.Errorf("not an Anthropic error: %.200s", body)
			}
			if got := gjson.GetBytes(body, "error.type").String(); got != tt.wantType {
				t.Errorf("error.type = %q, want %q", got, tt.wantType)
			}
			if ct := resp.Header.Get("content-type"); ct != "application/json" {
				t.Errorf("content-type = %q", ct)
			}
		})
	}
	if h.up.Count("k1") != 1 {
		t.Errorf("bad requests reached the upstream: %d", h.up.Count("k1"))
	}
}

func TestLocalRoutes(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	req, _ := http.NewRequest("HEAD", h.url+"/api/hello", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD /api/hello: %v %v", resp, err)
	}
	resp, err := http.Get(h.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	req, _ = http.NewRequest("GET", h.url+"/v1/models", nil)
	req.Header.Set("x-api-key", testKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("models: %v %v", resp, err)
	}
	if got := resp.Header.Get("x-subgate-request-id"); got == "" {
		t.Errorf("no x-subgate-request-id")
	}
}

func TestCountTokens(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	resp, body := h.post("/v1/messages/count_tokens?beta=true", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hello there"}]}`)
	if resp.StatusCode != 200 || !gjson.GetBytes(body, "input_tokens").Exists() {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if got := h.up.Requests()[0].Path; got != "/v1/messages/count_tokens?beta=true" {
		t.Errorf("upstream path %q", got)
	}
}

// TestTooLarge sends only the headers of an oversized request, as a client
// using Expect: 100-continue would: the gateway refuses it before reading
// the body, in the Anthropic shape.
func TestTooLarge(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")})
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", testKey, 2<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || gjson.GetBytes(body, "error.type").String() != "request_too_large" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
}
