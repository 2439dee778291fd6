package webui

import (
	"cmp"
	"context"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/proxy/identity"
	"subgate/sched"
)

// accountCallTimeout bounds an Accounts call made for one admin request
// (a token refresh or a test request goes upstream).
const accountCallTimeout = 60 * time.Second

type accountView struct {
	Name        string            `json:"name"`
	Platform    string            `json:"platform"`
	Type        string            `json:"type"`
	Source      string            `json:"source"`
	Group       string            `json:"group"`
	Priority    int               `json:"priority"`
	State       string            `json:"state"`
	Reason      string            `json:"reason"`
	Until       *time.Time        `json:"until"`
	InFlight    int               `json:"in_flight"`
	Waiting     int               `json:"waiting"`
	Queued      int               `json:"queued"`
	Concurrency int               `json:"concurrency"`
	LastUsed    *time.Time        `json:"last_used"`
	Windows     []sched.Window    `json:"windows"`
	Families    []familyView      `json:"families"`
	Email       string            `json:"email,omitempty"`
	TokenPrefix string            `json:"token_prefix,omitempty"`
	ExpiresAt   *time.Time        `json:"expires_at"`
	BaseURL     string            `json:"base_url,omitempty"`
	Proxy       string            `json:"proxy,omitempty"` // password redacted
	Models      []string          `json:"models"`
	ModelMap    map[string]string `json:"model_map"`
	// Identity is the account's identity setting ("" for its type's
	// default) and IdentityMode what applies: mask or passthrough.
	Identity        string                  `json:"identity"`
	IdentityMode    string                  `json:"identity_mode"`
	IdentityProfile *identity.ProfileConfig `json:"identity_profile,omitempty"`
	// Flattened subscription windows, for simple consumers.
	Window5hUtilization *float64   `json:"window_5h_utilization,omitempty"`
	Window5hReset       *time.Time `json:"window_5h_reset,omitempty"`
	Window7dUtilization *float64   `json:"window_7d_utilization,omitempty"`
	Window7dReset       *time.Time `json:"window_7d_reset,omitempty"`
}

// familyView is one model family's state on an account: benched on its
// own (a weekly Opus limit) while the account serves other families.
type familyView struct {
	Family  string         `json:"family"`
	State   string         `json:"state"`
	Until   *time.Time     `json:"until"`
	Reason  string         `json:"reason"`
	Windows []sched.Window `json:"windows"`
}

func familyViews(fs []sched.FamilyStatus) []familyView {
	out := make([]familyView, len(fs))
	for i, f := range fs {
		out[i] = familyView{Family: f.Family, State: string(f.State), Until: timePtr(f.Until),
			Reason: f.Reason, Windows: nonNil(f.Windows)}
	}
	return out
}

// accountInput is the JSON body of POST and PATCH accounts.
type accountInput struct {
	Name        string            `json:"name"`
	Platform    string            `json:"platform"`
	Type        string            `json:"type"`
	APIKey      string            `json:"api_key"`
	AccessToken string            `json:"access_token"`
	BaseURL     string            `json:"base_url"`
	Proxy       string            `json:"proxy"`
	Group       string            `json:"group"`
	Priority    int               `json:"priority"`
	Concurrency int               `json:"concurrency"`
	Models      []string          `json:"models"`
	ModelMap    map[string]string `json:"model_map"`
	// Identity is mask, passthrough or "" (the type's default);
	// IdentityProfile pins the client a masked account presents.
	Identity        string                 `json:"identity"`
	IdentityProfile identity.ProfileConfig `json:"identity_profile"`
}

// model is the account the body describes.
func (in *accountInput) model() kv.Account {
	return kv.Account{Name: in.Name, Platform: in.Platform, Type: in.Type, APIKey: in.APIKey,
		AccessToken: in.AccessToken, BaseURL: in.BaseURL, Proxy: in.Proxy, Group: in.Group,
		Priority: in.Priority, Concurrency: in.Concurrency, Models: in.Models, ModelMap: in.ModelMap,
		Identity: in.Identity, IdentityProfile: in.IdentityProfile}
}

// accountInputOf is a PATCH body's starting point: a's settings, without
// its secrets, which an edit keeps unless it names new ones.
func accountInputOf(a kv.Account) accountInput {
	return accountInput{Name: a.Name, Platform: a.Platform, Type: a.Type, BaseURL: a.BaseURL,
		Proxy: a.Proxy, Group: a.Group, Priority: a.Priority, Concurrency: a.Concurrency,
		Models: a.Models, ModelMap: a.ModelMap, Identity: a.Identity, IdentityProfile: a.IdentityProfile}
}

// applyAccount merges new settings into an account: every setting is
// replaced (an empty group and a zero concurrency by the defaults), a
// secret only when n names one.
func applyAccount(dst *kv.Account, n kv.Account) {
	dst.Platform, dst.Type = n.Platform, n.Type
	// A proxy sent back as the listing shows it (its password masked)
	// keeps the stored one: the edit form is filled from that listing.
	if n.Proxy != (kv.Account{Proxy: dst.Proxy}).Redacted().Proxy {
		dst.Proxy = n.Proxy
	}
	dst.BaseURL = n.BaseURL
	dst.Group = cmp.Or(n.Group, kv.DefaultGroup)
	dst.Priority, dst.Concurrency = n.Priority, cmp.Or(n.Concurrency, kv.DefaultConcurrency)
	dst.Models, dst.ModelMap = n.Models, n.ModelMap
	dst.Identity, dst.IdentityProfile = n.Identity, n.IdentityProfile
	if n.APIKey != "" {
		dst.APIKey = n.APIKey
	}
	if n.AccessToken != "" {
		dst.AccessToken = n.AccessToken
	}
}

// views joins the scheduler's live status with the stored settings.
func (h *Handler) accountViews() []accountView {
	var infos []kv.Account
	if h.cfg.Accounts != nil {
		infos = h.cfg.Accounts.List()
	}
	byName := make(map[string]*kv.Account, len(infos))
	for i := range infos {
		byName[infos[i].Name] = &infos[i]
	}
	st := h.cfg.Sched.Status()
	out := make([]accountView, 0, len(st)+len(infos))
	seen := make(map[string]bool, len(st))
	for _, a := range st {
		v := accountView{
			Name: a.Name, Platform: a.Platform, Type: a.Type, Group: a.Group, Priority: a.Priority,
			State: string(a.State), Reason: a.Reason, Until: timePtr(a.Until),
			InFlight: a.InFlight, Waiting: a.Waiting, Queued: a.Waiting, Concurrency: max(a.Concurrency, 1),
			LastUsed: timePtr(a.LastUsed), Windows: nonNil(a.Windows), Families: familyViews(a.Families),
			Models: nonNil(a.Models), ModelMap: a.ModelMap,
		}
		for _, w := range a.Windows {
			u := w.Utilization
			switch w.Name {
			case "5h":
				v.Window5hUtilization, v.Window5hReset = &u, timePtr(w.ResetAt)
			case "7d":
				v.Window7dUtilization, v.Window7dReset = &u, timePtr(w.ResetAt)
			}
		}
		if info := byName[a.Name]; info != nil {
			v.addInfo(info)
		}
		seen[a.Name] = true
		out = append(out, v)
	}
	// Stored but not (yet) in the pool: shown so they can be fixed.
	for i := range infos {
		if seen[infos[i].Name] {
			continue
		}
		info := &infos[i]
		v := accountView{Name: info.Name, Platform: info.Platform, Type: info.Type, Group: info.Group,
			Priority: info.Priority, State: "inactive", Reason: "not in the pool",
			Concurrency: max(info.Concurrency, 1), Windows: []sched.Window{}, Families: []familyView{}}
		v.addInfo(info)
		out = append(out, v)
	}
	return out
}

// addInfo adds what the pool's model tells, redacted, to an account's view.
func (v *accountView) addInfo(info *kv.Account) {
	a := info.Redacted()
	v.Source = "ui"
	if a.FromConfig {
		v.Source = "config"
	}
	v.TokenPrefix = a.APIKey
	if a.Type == "oauth" || a.Type == "setup_token" {
		v.TokenPrefix = a.AccessToken
	}
	v.TokenPrefix = cmp.Or(v.TokenPrefix, "…")
	v.Email, v.ExpiresAt, v.BaseURL, v.Proxy = a.Email, timePtr(a.ExpiresAt.Time), a.BaseURL, a.Proxy
	v.Models, v.ModelMap = nonNil(a.Models), a.ModelMap
	v.Identity, v.IdentityMode = a.Identity, string(a.IdentityMode())
	if a.IdentityProfile != (identity.ProfileConfig{}) {
		v.IdentityProfile = &a.IdentityProfile
	}
}

func (h *Handler) listAccounts(ctx *fasthttp.RequestCtx, _ []string) {
	writeJSON(ctx, map[string]any{"accounts": h.accountViews()})
}

func (h *Handler) findAccount(name string) (kv.Account, bool) {
	for _, a := range h.cfg.Accounts.List() {
		if a.Name == name {
			return a, true
		}
	}
	return kv.Account{}, false
}

// addAccount serves POST /admin/api/accounts (api_key or setup_token).
func (h *Handler) addAccount(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Accounts == nil {
		notConfigured(ctx, "accounts")
		return
	}
	in := accountInput{Platform: "anthropic", Type: "api_key"}
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	if err := checkAccount(in.model(), true); err != nil {
		h.fail(ctx, "add account", err)
		return
	}
	if _, exists := h.findAccount(in.Name); exists {
		badField(ctx, "name", "an account named "+strconv.Quote(in.Name)+" already exists")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Accounts.Add(c, in.model()); err != nil {
		h.fail(ctx, "add account", err)
		return
	}
	h.log.Info("admin account added", "acct", in.Name, "platform", in.Platform, "type", in.Type)
	ctx.SetStatusCode(fasthttp.StatusCreated)
	writeJSON(ctx, map[string]any{"ok": true, "account": in.Name})
}

// updateAccount serves PATCH /admin/api/accounts/{name}: fields absent
// from the body keep their values; empty secrets keep the stored ones.
func (h *Handler) updateAccount(ctx *fasthttp.RequestCtx, args []string) {
	if h.cfg.Accounts == nil {
		notConfigured(ctx, "accounts")
		return
	}
	name := args[0]
	cur, ok := h.findAccount(name)
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "no account named "+strconv.Quote(name), "")
		return
	}
	if cur.FromConfig {
		h.fail(ctx, "update account", ErrReadOnly)
		return
	}
	in := accountInputOf(cur)
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	for _, f := range []struct {
		field    string
		got, was string
	}{{"name", in.Name, cur.Name}, {"platform", in.Platform, cur.Platform}, {"type", in.Type, cur.Type}} {
		if f.got != f.was {
			badField(ctx, f.field, "cannot be changed; add a new account instead")
			return
		}
	}
	merged := cur
	applyAccount(&merged, in.model())
	if err := checkAccount(merged, false); err != nil {
		h.fail(ctx, "update account", err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Accounts.Update(c, name, in.model()); err != nil {
		h.fail(ctx, "update account", err)
		return
	}
	h.log.Info("admin account updated", "acct", name)
	writeJSON(ctx, map[string]any{"ok": true, "account": name})
}

func (h *Handler) deleteAccount(ctx *fasthttp.RequestCtx, args []string) {
	if h.cfg.Accounts == nil {
		notConfigured(ctx, "accounts")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if err := h.cfg.Accounts.Delete(c, args[0]); err != nil {
		h.fail(ctx, "delete account", err)
		return
	}
	h.log.Info("admin account deleted", "acct", args[0])
	writeJSON(ctx, map[string]any{"ok": true, "account": args[0]})
}

// accountAction serves POST /admin/api/accounts/{name}/{action}.
func (h *Handler) accountAction(ctx *fasthttp.RequestCtx, args []string) {
	name, action := args[0], args[1]
	var err error
	switch action {
	case "clear":
		err = h.cfg.Sched.Clear(name)
	case "disable":
		err = h.cfg.Sched.Disable(name)
	case "enable":
		err = h.cfg.Sched.Enable(name)
	case "refresh", "test":
		h.upstreamAction(ctx, name, action)
		return
	default:
		writeError(ctx, fasthttp.StatusNotFound, "unknown action "+strconv.Quote(action)+
			"; want clear, disable, enable, refresh or test", "")
		return
	}
	if err != nil {
		h.fail(ctx, action+" account", err)
		return
	}
	h.log.Info("admin account action", "acct", name, "action", action)
	writeJSON(ctx, map[string]any{"ok": true, "account": name, "action": action})
}

// upstreamAction refreshes an account's token or sends it a test request.
func (h *Handler) upstreamAction(ctx *fasthttp.RequestCtx, name, action string) {
	if h.cfg.Accounts == nil {
		notConfigured(ctx, "accounts")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	if action == "refresh" {
		if err := h.cfg.Accounts.RefreshNow(c, name); err != nil {
			h.fail(ctx, "refresh token", err)
			return
		}
		h.log.Info("admin token refreshed", "acct", name)
		writeJSON(ctx, map[string]any{"ok": true, "account": name, "action": action})
		return
	}
	r, err := h.cfg.Accounts.Test(c, name)
	if err != nil {
		h.fail(ctx, "test account", err)
		return
	}
	writeJSON(ctx, map[string]any{"ok": r.OK, "status": r.Status, "latency_ms": r.Latency.Milliseconds(),
		"model": r.Model, "message": r.Message, "account": name})
}

type oauthFinishInput struct {
	accountInput
	State  string `json:"state"`
	Pasted string `json:"pasted"`
}

// oauthStart serves POST /admin/api/oauth/start {platform, kind}.
func (h *Handler) oauthStart(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Accounts == nil {
		notConfigured(ctx, "accounts")
		return
	}
	var in struct {
		Platform string `json:"platform"`
		Kind     string `json:"kind"`
	}
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	err := first([]error{oneOf("platform", in.Platform, kv.Platforms), oneOf("kind", in.Kind, []string{"oauth", "setup_token"})})
	if err == nil && in.Kind == "setup_token" && in.Platform != "anthropic" {
		err = &FieldError{Field: "kind", Msg: "setup_token is Anthropic only"}
	}
	if err != nil {
		h.fail(ctx, "start login", err)
		return
	}
	st, err := h.cfg.Accounts.OAuthStart(in.Platform, in.Kind)
	if err != nil {
		h.fail(ctx, "start login", err)
		return
	}
	writeJSON(ctx, map[string]any{"url": st.URL, "state": st.State})
}

// oauthFinish serves POST /admin/api/oauth/finish {state, pasted, name,
// group, proxy, ...}: it exchanges the pasted code and adds the account.
func (h *Handler) oauthFinish(ctx *fasthttp.RequestCtx, _ []string) {
	if h.cfg.Accounts == nil {
		notConfigured(ctx, "accounts")
		return
	}
	var in oauthFinishInput
	if _, ok := decode(ctx, &in); !ok {
		return
	}
	// Platform, type and token come from the login the state names; a
	// stand-in token lets the model check the rest now.
	probe := in.model()
	probe.Platform, probe.Type, probe.AccessToken = kv.Platforms[0], "oauth", "(from the login)"
	// The identity settings depend on the platform, which only the login
	// knows: OAuthFinish checks them with the rest.
	probe.Identity, probe.IdentityProfile = "", identity.ProfileConfig{}
	err := first([]error{
		required("state", in.State), required("pasted", in.Pasted), checkAccount(probe, false),
	})
	if err != nil {
		h.fail(ctx, "finish login", err)
		return
	}
	if _, exists := h.findAccount(in.Name); exists {
		badField(ctx, "name", "an account named "+strconv.Quote(in.Name)+" already exists")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), accountCallTimeout)
	defer cancel()
	name, err := h.cfg.Accounts.OAuthFinish(c, in.State, in.Pasted, in.model())
	if err != nil {
		h.fail(ctx, "finish login", err)
		return
	}
	h.log.Info("admin account added by login", "acct", name)
	ctx.SetStatusCode(fasthttp.StatusCreated)
	writeJSON(ctx, map[string]any{"ok": true, "account": name})
}

func required(field, v string) error {
	if v == "" {
		return &FieldError{Field: field, Msg: "required"}
	}
	return nil
}
