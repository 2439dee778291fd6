package protocol

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"github.com/valyala/fasthttp"

	"subgate/proxy/upstream"
)

// Code Assist (cloudcode-pa), which Gemini CLI's Google logins use: the
// same Gemini request inside an envelope that names the model and the
// account's project, and the discovery of that project
// (loadCodeAssist, then onboardUser), the one call a protocol makes to
// an upstream itself, through upstream.Clients.

// Before implements Preparer: a Code Assist account needs its project.
func (p *Gemini) Before(ctx context.Context, c *Call, a *upstream.Account, token string) error {
	if !a.OAuth() || a.ProjectID != "" {
		return nil
	}
	_, err := p.projects.get(ctx, a, p.codeAssistBase(a), token)
	return err
}

func (p *Gemini) codeAssistBase(a *upstream.Account) string {
	if a.BaseURL != "" {
		return a.BaseURL
	}
	return p.CodeAssistURL
}

// codeAssistEnvelope wraps a Gemini request for Code Assist, built with
// sjson: body, which Parse admitted as one JSON object, becomes the value
// of "request" and nothing else, so no client bytes reach the envelope's
// own model and project.
func codeAssistEnvelope(model, project string, body []byte) ([]byte, error) {
	b, err := sjson.SetBytes([]byte(`{}`), "model", model)
	if err == nil && project != "" {
		b, err = sjson.SetBytes(b, "project", project)
	}
	if err == nil {
		b, err = sjson.SetBytes(b, "user_prompt_id", "subgate-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	}
	if err == nil {
		b, err = sjson.SetRawBytes(b, "request", body) // a new buffer: body is not touched
	}
	return b, err
}

// projectCache discovers and remembers the Code Assist project of each
// Google account: loadCodeAssist first, onboardUser when the account has
// none yet. Discovery runs once per account at a time.
type projectCache struct {
	up      *upstream.Clients
	mu      sync.Mutex
	byName  map[string]string
	pending map[string]chan struct{}
	// found is told about each discovered project (main persists it).
	found func(account, project string)
	// pollEvery is the onboarding long-running operation poll period.
	pollEvery time.Duration
}

func newProjectCache(up *upstream.Clients, found func(string, string)) *projectCache {
	return &projectCache{up: up, byName: map[string]string{}, pending: map[string]chan struct{}{}, found: found, pollEvery: 2 * time.Second}
}

// freeTier marks an account on the free tier, whose requests carry no
// project.
const freeTier = "\x00free"

func (pc *projectCache) cached(name string) string {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if p := pc.byName[name]; p != freeTier {
		return p
	}
	return ""
}

func (pc *projectCache) get(ctx context.Context, a *upstream.Account, base, token string) (string, error) {
	for {
		pc.mu.Lock()
		if p, ok := pc.byName[a.Name]; ok {
			pc.mu.Unlock()
			return p, nil
		}
		if ch, ok := pc.pending[a.Name]; ok {
			pc.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		ch := make(chan struct{})
		pc.pending[a.Name] = ch
		pc.mu.Unlock()

		p, err := pc.discover(ctx, a, base, token)
		pc.mu.Lock()
		delete(pc.pending, a.Name)
		if err == nil {
			pc.byName[a.Name] = p
		}
		pc.mu.Unlock()
		close(ch)
		if err == nil && pc.found != nil && p != freeTier {
			pc.found(a.Name, p)
		}
		return p, err
	}
}

const codeAssistMetadata = `{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED","pluginType":"GEMINI"}`

func (pc *projectCache) discover(ctx context.Context, a *upstream.Account, base, token string) (string, error) {
	body, err := pc.call(ctx, a, base+"/v1internal:loadCodeAssist", token, `{"metadata":`+codeAssistMetadata+`}`)
	if err != nil {
		return "", fmt.Errorf("loadCodeAssist: %w", err)
	}
	if p := gjson.GetBytes(body, "cloudaicompanionProject").String(); p != "" {
		return p, nil
	}
	tier := "free-tier"
	for _, t := range gjson.GetBytes(body, "allowedTiers").Array() {
		if t.Get("isDefault").Bool() {
			tier = t.Get("id").String()
		}
	}
	req := `{"tierId":"` + tier + `","metadata":` + codeAssistMetadata + `}`
	for {
		op, err := pc.call(ctx, a, base+"/v1internal:onboardUser", token, req)
		if err != nil {
			return "", fmt.Errorf("onboardUser: %w", err)
		}
		if gjson.GetBytes(op, "done").Bool() {
			if p := gjson.GetBytes(op, "response.cloudaicompanionProject.id").String(); p != "" {
				return p, nil
			}
			if tier == "free-tier" {
				return freeTier, nil
			}
			return "", errors.New("onboardUser: no project in the finished operation")
		}
		select {
		case <-time.After(pc.pollEvery):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (pc *projectCache) call(ctx context.Context, a *upstream.Account, url, token, body string) ([]byte, error) {
	cp, err := pc.up.For(a.Proxy)
	if err != nil {
		return nil, err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.SetBodyString(body)
	if err := pc.up.Do(ctx, cp.Buffered, req, resp, 30*time.Second); err != nil {
		return nil, err
	}
	defer upstream.Release(req, resp)
	if sc := resp.StatusCode(); sc == fasthttp.StatusUnauthorized {
		return nil, ErrUpstreamUnauthorized
	} else if sc != 200 {
		return nil, fmt.Errorf("status %d %s", sc, strings.TrimSpace(gjson.GetBytes(resp.Body(), "error.message").String()))
	}
	return append([]byte(nil), resp.Body()...), nil
}
