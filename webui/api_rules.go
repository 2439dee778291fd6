package webui

import (
	"context"

	"github.com/valyala/fasthttp"

	"subgate/proxy/errrules"
)

// ruleView is a rule as listed: where it comes from, and for the UI's its
// id. Config rules come first, then the UI's, in the order they are tried.
type ruleView struct {
	ID     string `json:"id,omitempty"`
	Source string `json:"source"` // config | ui
	errrules.Rule
}

// listRules serves GET /admin/api/error-rules.
func (h *Handler) listRules(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Rules == nil {
		notConfigured(ctx, "error rules")
		return
	}
	config, ui, err := h.cfg.Rules.List()
	if err != nil {
		h.fail(ctx, "list error rules", err)
		return
	}
	out := make([]ruleView, 0, len(config)+len(ui))
	for _, r := range config {
		out = append(out, ruleView{Source: "config", Rule: r})
	}
	for _, r := range ui {
		out = append(out, ruleView{ID: r.ID, Source: "ui", Rule: r.Rule})
	}
	writeJSON(ctx, map[string]any{"rules": out})
}

// addRule serves POST /admin/api/error-rules: the rule is appended to
// the UI's and applies at once.
func (h *Handler) addRule(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Rules == nil {
		notConfigured(ctx, "error rules")
		return
	}
	var in errrules.Rule
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	r, err := h.cfg.Rules.Add(c, in)
	if err != nil {
		h.fail(ctx, "add error rule", err)
		return
	}
	h.log.Info("admin error rule added", "rule", r.Name)
	ctx.SetStatusCode(fasthttp.StatusCreated)
	writeJSON(ctx, map[string]any{"ok": true, "rule": ruleView{ID: r.ID, Source: "ui", Rule: r.Rule}})
}

// updateRule serves PATCH /admin/api/error-rules/{id}: fields absent
// from the body keep their values.
func (h *Handler) updateRule(ctx *fasthttp.RequestCtx, args []string) {
	if h.cfg.Rules == nil {
		notConfigured(ctx, "error rules")
		return
	}
	_, ui, err := h.cfg.Rules.List()
	if err != nil {
		h.fail(ctx, "update error rule", err)
		return
	}
	var in errrules.Rule
	found := false
	for _, r := range ui {
		if r.ID == args[0] {
			in, found = r.Rule, true
		}
	}
	if !found {
		h.fail(ctx, "update error rule", ErrNotFound)
		return
	}
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Rules.Update(c, args[0], in); err != nil {
		h.fail(ctx, "update error rule", err)
		return
	}
	h.log.Info("admin error rule updated", "rule", args[0])
	writeJSON(ctx, map[string]any{"ok": true, "id": args[0]})
}

// deleteRule serves DELETE /admin/api/error-rules/{id}.
func (h *Handler) deleteRule(ctx *fasthttp.RequestCtx, args []string) {
	if h.cfg.Rules == nil {
		notConfigured(ctx, "error rules")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Rules.Delete(c, args[0]); err != nil {
		h.fail(ctx, "delete error rule", err)
		return
	}
	h.log.Info("admin error rule deleted", "rule", args[0])
	writeJSON(ctx, map[string]any{"ok": true, "id": args[0]})
}
