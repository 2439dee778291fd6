package main

// wiring.go: what joins the packages for App and the commands: the log,
// the listeners and the admin server, the store and its master key, the
// price table, the login flows, and the proxy's views of the models.

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy"
	"subgate/proxy/edge"
	"subgate/proxy/errrules"
	"subgate/proxy/identity"
	"subgate/proxy/oauth"
	"subgate/proxy/reqlog"
	"subgate/webui"
)

// newLogger builds the process's log: a reqlog.Writer owns the
// destination — per-request lines batched, slog's lines passed through
// whole, never interleaved — and slog's handler writes through it. Close
// the Writer after the last line.
func newLogger(sc ServerConfig, w io.Writer) (*slog.Logger, *reqlog.Writer) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(sc.LogLevel))
	format := sc.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		rl := reqlog.New(reqlog.Config{Out: w, Format: reqlog.Text, Level: level})
		return slog.New(tint.NewHandler(rl, &tint.Options{Level: level, TimeFormat: reqlog.TextTimeFormat})), rl
	}
	rl := reqlog.New(reqlog.Config{Out: w, Format: reqlog.JSON, Level: level})
	return slog.New(slog.NewJSONHandler(rl, &slog.HandlerOptions{Level: level})), rl
}

// listen opens a TCP listener, with TLS when the config has a certificate.
func listen(sc ServerConfig, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if sc.TLSCert == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(sc.TLSCert, sc.TLSKey)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("server.tls_cert/tls_key: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// newAdminServer builds the admin_listen server with the main server's
// defences: the same connection limits, timeouts and client-address
// rules, no body beyond edge.SmallBody before the admin credential is
// shown, and a recover, since fasthttp does not catch handler panics.
// Serve it on guard.Listener(ln).
func newAdminServer(sc ServerConfig, ui adminUI, trust *edge.Trust, log *slog.Logger) (*fasthttp.Server, *edge.Guard) {
	guard := edge.New(edge.Config{Trust: trust, MaxConnsPerIP: sc.MaxConnsPerIP, Admits: ui.Authorized, Logger: log})
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			defer func() {
				if v := recover(); v != nil {
					log.Error("admin handler panic", "route", string(ctx.Path()), "panic", v, "stack", string(debug.Stack()))
					ctx.ResetBody()
					ctx.SetStatusCode(fasthttp.StatusInternalServerError)
					ctx.SetContentType("application/json")
					ctx.SetBodyString(`{"error":{"message":"internal error","status":500}}`)
				}
			}()
			if !guard.Admit(ctx) {
				ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
				ctx.SetContentType("application/json")
				ctx.SetBodyString(`{"error":{"message":"too many requests in flight from your address","status":429}}`)
				return
			}
			ui.Handler(ctx)
		},
		ErrorHandler:          ui.ErrorHandler,
		HeaderReceived:        guard.HeaderReceived,
		ReadTimeout:           sc.ReadTimeout.Duration,
		IdleTimeout:           sc.IdleTimeout.Duration,
		WriteTimeout:          sc.WriteTimeout.Duration,
		Concurrency:           sc.MaxConns,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
		Logger:                fasthttpLog{log},
	}
	if sc.MaxConnsPerIP > 0 {
		srv.ConnState = guard.ConnState
	}
	return srv, guard
}

// adminUI is what the admin server needs of *webui.Handler.
type adminUI interface {
	Handler(ctx *fasthttp.RequestCtx)
	Authorized(h *fasthttp.RequestHeader) bool
	ErrorHandler(ctx *fasthttp.RequestCtx, err error)
}

// fasthttpLog sends fasthttp's own messages (connection errors) to Debug,
// without their arguments: those may quote request bytes, credentials
// included.
type fasthttpLog struct{ l *slog.Logger }

func (f fasthttpLog) Printf(format string, args ...any) {
	f.l.Debug("fasthttp", "msg", format, "args", len(args))
}

// proxyPool builds the proxy's runtime views of the pool's models. A
// masked account's identity is registered with ids (loaded from kv, or
// made and saved there once), which makes this the place accounts get
// their device: at start and after every admin change. nil ids (commands
// that never serve) passes every identity through.
func proxyPool(accounts []kv.Account, keys []kv.Key, ids *identity.Manager) ([]proxy.Account, []proxy.Key, error) {
	pa := make([]proxy.Account, len(accounts))
	masked := make(map[string]bool)
	for i, a := range accounts {
		pa[i] = proxyAccount(a)
		if ids == nil || a.IdentityMode() != identity.ModeMask {
			continue
		}
		h, err := ids.Register(identity.Spec{Name: a.Name, Platform: a.Platform, Type: a.Type,
			Mode: identity.ModeMask, Profile: a.IdentityProfile, AccountUUID: a.AccountUUID})
		if err != nil {
			return nil, nil, fmt.Errorf("account %q: %w", a.Name, err)
		}
		pa[i].Identity = h
		masked[a.Name] = true
	}
	pk := make([]proxy.Key, len(keys))
	for i, k := range keys {
		var err error
		if pk[i], err = proxyKey(k); err != nil {
			return nil, nil, fmt.Errorf("key %q: %w", k.Name, err)
		}
	}
	if ids != nil {
		ids.Retain(masked)
	}
	return pa, pk, nil
}

// proxyAccount is the proxy's runtime view of an account, without its
// identity handle (proxyPool adds it).
func proxyAccount(a kv.Account) proxy.Account {
	return proxy.Account{
		Account: a.Sched(),
		APIKey:  a.APIKey, AccessToken: a.AccessToken, RefreshToken: a.RefreshToken, IDToken: a.IDToken,
		ExpiresAt: a.ExpiresAt.Time, AccountID: a.AccountID, ProjectID: a.ProjectID,
		BaseURL: a.BaseURL, Proxy: a.Proxy, FromConfig: a.FromConfig, InterceptWarmup: a.InterceptWarmup,
	}
}

// proxyKey is the proxy's runtime view of a key.
func proxyKey(k kv.Key) (proxy.Key, error) {
	h, err := proxy.ParseKeyHash(k.Hash)
	if err != nil {
		return proxy.Key{}, err
	}
	ips, err := k.Prefixes()
	if err != nil {
		return proxy.Key{}, fmt.Errorf("allow_ips: %w", err)
	}
	return proxy.Key{
		Name: k.Name, Hash: h, Group: k.Group, Concurrency: k.Concurrency, Limits: k.Limits(),
		ExpiresAt: k.ExpiresAt.Time, Disabled: !k.Enabled, Models: k.Models, AllowIPs: ips,
		InterceptWarmup: k.InterceptWarmup, Translate: k.Translates(),
	}, nil
}

// gateway adapts the proxy and its token manager to webui.Gateway,
// handing the proxy its runtime views of the models.
type gateway struct {
	srv    *proxy.Server
	tokens *oauth.Tokens
	ids    *identity.Manager
}

var _ webui.Gateway = (*gateway)(nil)

func (g *gateway) SetPool(accounts []kv.Account, keys []kv.Key) error {
	pa, pk, err := proxyPool(accounts, keys, g.ids)
	if err != nil {
		return err
	}
	g.srv.SetPool(pa, pk)
	return nil
}

func (g *gateway) Probe(ctx context.Context, name string) (webui.TestResult, error) {
	r, err := g.srv.Probe(ctx, name)
	if errors.Is(err, proxy.ErrUnknownAccount) {
		return webui.TestResult{}, webui.ErrNotFound
	}
	return webui.TestResult{OK: r.OK, Status: r.Status, Latency: r.Latency, Model: r.Model, Message: r.Message}, err
}

func (g *gateway) Refresh(ctx context.Context, a kv.Account) error {
	pa := proxyAccount(a)
	_, err := g.tokens.ForceRefresh(ctx, &pa)
	return err
}

func (g *gateway) Forget(name string) { g.tokens.Forget(name) }

func (g *gateway) SetErrorRules(ui []errrules.Rule) error { return g.srv.SetErrorRules(ui) }

// openStore creates data_dir (0700) when missing and opens the kv
// database with the master key. log, when set, is the database's and
// hears that credentials are stored unencrypted.
func openStore(cfg Config, log *slog.Logger) (*kv.DB, error) {
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	key, err := masterKey(cfg.Server)
	if err != nil {
		return nil, err
	}
	if key == nil && log != nil {
		log.Warn(msgPlaintext)
	}
	db, err := kv.Open(dbPath(cfg), kv.Options{Logger: log, MasterKey: key})
	if err != nil {
		return nil, openError(err)
	}
	return db, nil
}

// withStore opens the kv database (openStore), calls fn and closes the
// database, reporting a failed close.
func withStore(cfg Config, fn func(*kv.DB) error) (err error) {
	db, err := openStore(cfg, nil)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	return fn(db)
}

// masterKeyEnv holds the master key (hex or base64 of 32 bytes). It wins
// over server.master_key_file.
const masterKeyEnv = "SUBGATE_MASTER_KEY"

// msgPlaintext is the App's start-up warning when no master key is set.
const msgPlaintext = "upstream credentials are stored unencrypted; set " + masterKeyEnv + " or server.master_key_file"

// masterKey returns the key from SUBGATE_MASTER_KEY, else from
// server.master_key_file, else nil: credentials are stored in plaintext.
func masterKey(sc ServerConfig) ([]byte, error) {
	if v := os.Getenv(masterKeyEnv); v != "" {
		key, err := parseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", masterKeyEnv, err)
		}
		return key, nil
	}
	if sc.MasterKeyFile == "" {
		return nil, nil
	}
	return readKeyFile(sc.MasterKeyFile, "server.master_key_file")
}

// readKeyFile reads a master key file; what names its source in errors.
// Like ssh with a private key, it refuses a file that others may read.
func readKeyFile(path, what string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if perm := fi.Mode().Perm(); perm&^0o600 != 0 {
		return nil, fmt.Errorf("%s %s has mode %04o; a master key file must be mode 0600 or stricter (chmod 600 %s)",
			what, path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	key, err := parseMasterKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return key, nil
}

// parseMasterKey decodes 32 bytes from hex or base64 (standard or URL
// alphabet, padded or not), ignoring surrounding white space.
func parseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*kv.MasterKeySize {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil && len(key) == kv.MasterKeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("not a %d-byte key in hex (%d digits) or base64 (`subgate secrets keygen FILE` makes one)",
		kv.MasterKeySize, 2*kv.MasterKeySize)
}

// openError adds what the user can do to an error of kv.Open and friends.
func openError(err error) error {
	switch {
	case errors.Is(err, kv.ErrLocked):
		return fmt.Errorf("%w; stop the running server first", err)
	case errors.Is(err, kv.ErrNoMasterKey):
		return fmt.Errorf("%w; set %s (hex or base64 of 32 bytes) or server.master_key_file to its key", err, masterKeyEnv)
	case errors.Is(err, kv.ErrWrongMasterKey):
		return fmt.Errorf("%w; check %s and server.master_key_file (%s wins)", err, masterKeyEnv, masterKeyEnv)
	}
	return err
}

const (
	// priceTableFile is the downloaded table's name in data_dir.
	priceTableFile = "model_prices.json"
	// maxPriceTable bounds a download: LiteLLM's unfiltered table is a
	// few MB, the mirror a few hundred KB.
	maxPriceTable = 32 << 20
	// pricesTimeout bounds the whole download.
	pricesTimeout = 2 * time.Minute
)

// loadPriceTable returns data_dir's downloaded price table when it is
// present and valid, else the embedded one, and logs which it uses.
func loadPriceTable(dataDir string, log *slog.Logger) *ledger.Table {
	path := filepath.Join(dataDir, priceTableFile)
	t, err := readPriceTable(path)
	switch {
	case err == nil:
		log.Info("price table", "source", path, "models", t.Len())
		return t
	case errors.Is(err, fs.ErrNotExist):
	default:
		log.Warn("price table in data_dir unusable, using the embedded one", "path", path, "err", err)
	}
	t = ledger.EmbeddedTable()
	log.Info("price table", "source", "embedded", "models", t.Len())
	return t
}

func readPriceTable(path string) (*ledger.Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPriceTable+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPriceTable {
		return nil, fmt.Errorf("larger than %d MiB", maxPriceTable>>20)
	}
	return ledger.ParseTable(data)
}

// newOAuthFlow returns platform's login flow with the [upstreams] client
// values. kind is "oauth", or "setup_token" for a long-lived
// inference-only Claude token.
func newOAuthFlow(cfg Config, platform, kind string) (*oauth.Flow, error) {
	fc := oauth.FlowConfig{Platform: platform, Kind: kind}
	var key string
	switch platform {
	case "anthropic":
		up := cfg.Upstreams.Anthropic
		key = "upstreams.anthropic"
		fc.AuthorizeURL, fc.TokenURL, fc.ClientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		fc.RedirectURL, fc.Scopes, fc.UserAgent = up.OAuthRedirectURL, up.OAuthScopes, up.UserAgent
	case "openai":
		up := cfg.Upstreams.OpenAI
		key = "upstreams.openai"
		fc.AuthorizeURL, fc.TokenURL, fc.ClientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		fc.RedirectURL, fc.Scopes = up.OAuthRedirectURL, up.OAuthScopes
	case "gemini":
		up := cfg.Upstreams.Gemini
		key = "upstreams.gemini"
		fc.AuthorizeURL, fc.TokenURL, fc.ClientID = up.OAuthAuthorizeURL, up.OAuthTokenURL, up.OAuthClientID
		fc.ClientSecret, fc.RedirectURL, fc.Scopes = up.OAuthClientSecret, up.OAuthRedirectURL, up.OAuthScopes
	}
	f, err := oauth.NewFlow(fc)
	switch {
	case err != nil:
		return nil, err
	case fc.ClientID == "":
		return nil, fmt.Errorf("%s.oauth_client_id is empty", key)
	case fc.AuthorizeURL == "" || fc.TokenURL == "" || fc.RedirectURL == "":
		return nil, fmt.Errorf("%s: oauth_authorize_url, oauth_token_url and oauth_redirect_url are required", key)
	}
	return f, nil
}

// proxyGroups is the proxy's view of the [groups.NAME] tables.
func proxyGroups(gs map[string]GroupConfig) map[string]proxy.Group {
	out := make(map[string]proxy.Group, len(gs))
	for name, g := range gs {
		out[name] = proxy.Group{Translate: g.Translate == nil || *g.Translate}
	}
	return out
}
