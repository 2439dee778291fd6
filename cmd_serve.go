package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/lmittmann/tint"
	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy"
	"subgate/proxy/edge"
	"subgate/proxy/oauth"
	"subgate/proxy/reqlog"
	"subgate/sched"
	"subgate/webui"
)

// serve runs the gateway until ctx ends, then shuts down in order: stop
// accepting and drain streams, fail waiters, flush the ledger, close kv.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	log, reqLog := newLogger(cfg.Server, stderr)
	defer reqLog.Close() // last: everything below logs through it
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	key, err := masterKey(cfg.Server)
	if err != nil {
		return err
	}
	if key == nil {
		log.Warn(msgPlaintext)
	}
	db, err := kv.Open(dbPath(cfg), kv.Options{Logger: log, MasterKey: key})
	if err != nil {
		return openError(err)
	}
	defer db.Close()

	adminHash, err := adminToken(db, cfg.Admin.Token, stdout)
	if err != nil {
		return err
	}
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopBG()

	loc, _ := time.LoadLocation(cfg.Ledger.Timezone) // validated at load
	led := ledger.New(ledger.Config{
		Store:         db,
		Pricing:       ledger.NewPricing(loadPriceTable(cfg.Server.DataDir, log), priceOverrides(cfg.Prices)),
		Logger:        log,
		FlushInterval: cfg.Ledger.FlushInterval.Duration,
		Location:      loc,
		RetentionDays: cfg.Ledger.RetentionDays,
		MaxPending:    cfg.Ledger.MaxPending,
		AllowUnpriced: cfg.Ledger.Unpriced == unpricedAllow,
	})
	if err := led.Rebuild(time.Now()); err != nil {
		return fmt.Errorf("rebuild quota counters: %w", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); led.Run(bg) }()
	defer led.Close()

	up, oa, gm := cfg.Upstreams.Anthropic, cfg.Upstreams.OpenAI, cfg.Upstreams.Gemini
	sc := cfg.Scheduler
	tokens := proxy.NewTokens(proxy.TokensConfig{
		Store:  db,
		Logger: log,
		Ahead:  sc.RefreshAhead.Duration,
		Endpoints: map[string]proxy.OAuthEndpoint{
			"anthropic": {TokenURL: up.OAuthTokenURL, ClientID: up.OAuthClientID, UserAgent: up.UserAgent},
			"openai":    {TokenURL: oa.OAuthTokenURL, ClientID: oa.OAuthClientID},
			"gemini":    {TokenURL: gm.OAuthTokenURL, ClientID: gm.OAuthClientID, ClientSecret: gm.OAuthClientSecret},
		},
	})
	gw := &gateway{tokens: tokens} // its srv is set once the proxy exists, before anything serves
	adm := webui.NewAdmin(webui.AdminConfig{
		Store: db, Accounts: cfg.Accounts, Keys: cfg.keyModels(), Gateway: gw, Usage: led, Logger: log,
		Flow: func(platform, kind string) (*oauth.Flow, error) { return newOAuthFlow(cfg, platform, kind) },
	})
	models, keyModels, err := adm.Pool()
	if err != nil {
		return err
	}
	accounts, keys, err := proxyPool(models, keyModels)
	if err != nil {
		return err
	}
	schedAccounts := make([]sched.Account, len(models))
	for i, a := range models {
		schedAccounts[i] = a.Sched()
	}
	sch, err := sched.New(sched.Config{
		Accounts:            schedAccounts,
		Store:               db,
		Logger:              log,
		StickyTTL:           sc.StickyTTL.Duration,
		MaxSessionsPerKey:   sc.MaxSessionsPerKey,
		StickyMaxWaiting:    sc.StickyMaxWaiting,
		StickyWaitTimeout:   sc.StickyWaitTimeout.Duration,
		FallbackMaxWaiting:  sc.FallbackMaxWaiting,
		FallbackWaitTimeout: sc.FallbackWaitTimeout.Duration,
		PreferSoonestReset:  sc.PreferSoonestReset,
		MaxCooldown:         sc.MaxCooldown.Duration,
		RateLimitCooldown:   sc.RateLimitCooldown.Duration,
		OverloadCooldown:    sc.OverloadCooldown.Duration,
	})
	if err != nil {
		return err
	}
	schedCtx, stopSched := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); sch.Run(schedCtx) }()
	defer stopSched() // final snapshot

	trust, err := edge.ParseTrust(cfg.Server.TrustedProxies)
	if err != nil {
		return fmt.Errorf("server.trusted_proxies: %w", err) // validated at load
	}
	ui := webui.New(webui.Config{
		TokenHash: adminHash, PasswordHash: cfg.Admin.PasswordHash,
		Sched: sch, Ledger: led, Accounts: adm, Keys: adm.Keys(),
		Backup: db.WriteTo, Logger: log, Trust: trust, WriteTimeout: cfg.Server.WriteTimeout.Duration,
		SecureCookies: cfg.Server.TLSCert != "" || cfg.Admin.CookieSecure,
	})
	var adminOnMain fasthttp.RequestHandler
	if cfg.Server.AdminListen == "" {
		adminOnMain = ui.Handler
	}
	srv := proxy.New(proxy.Config{
		Logger:             log,
		RequestLog:         reqLog,
		Sched:              sch,
		Ledger:             led,
		Tokens:             tokens,
		Accounts:           accounts,
		Keys:               keys,
		AnthropicBaseURL:   up.BaseURL,
		OpenAIBaseURL:      oa.BaseURL,
		CodexBaseURL:       oa.CodexBaseURL,
		GeminiBaseURL:      gm.BaseURL,
		CodeAssistBaseURL:  gm.CodeAssistBaseURL,
		ProjectFound:       func(acct, project string) { rememberProject(db, log, acct, project) },
		ClaudeCodeSystem:   up.ClaudeCodeSystem,
		MaxBodyBytes:       cfg.Server.MaxBodyMB << 20,
		MaxAccountSwitches: sc.MaxAccountSwitches,
		HeaderTimeout:      sc.UpstreamHeaderTimeout.Duration,
		StreamIdleTimeout:  sc.StreamIdleTimeout.Duration,
		Keepalive:          sc.StreamKeepalive.Duration,
		ReadTimeout:        cfg.Server.ReadTimeout.Duration,
		IdleTimeout:        cfg.Server.IdleTimeout.Duration,
		WriteTimeout:       cfg.Server.WriteTimeout.Duration,
		MaxConns:           cfg.Server.MaxConns,
		MaxConnsPerIP:      cfg.Server.MaxConnsPerIP,
		Trust:              trust,
		MetricsEnabled:     cfg.Metrics.Enabled,
		MetricsToken:       cfg.Metrics.Token,
		MetricsPublic:      cfg.Metrics.Public,
		Admin:              adminOnMain,
		ErrorRules:         cfg.ErrorRules,
		AdminAuth:          ui.Authorized,
	})
	gw.srv = srv

	ln, err := listen(cfg.Server, cfg.Server.Listen)
	if err != nil {
		return err
	}
	var aln net.Listener
	if cfg.Server.AdminListen != "" {
		if aln, err = listen(cfg.Server, cfg.Server.AdminListen); err != nil {
			ln.Close()
			return err
		}
	}
	log.Info("subgate listening", "addr", ln.Addr().String(), "tls", cfg.Server.TLSCert != "",
		"accounts", len(accounts), "keys", len(keys), "version", version)
	serveErr := make(chan error, 2)
	serving := 1
	go func() { serveErr <- srv.Serve(ln) }()
	var adminSrv *fasthttp.Server
	if aln != nil {
		var guard *edge.Guard
		adminSrv, guard = newAdminServer(cfg.Server, ui, trust, log)
		log.Info("admin listening", "addr", aln.Addr().String())
		serving++
		go func() { serveErr <- adminSrv.Serve(guard.Listener(aln)) }()
	}

	select {
	case err = <-serveErr:
		serving--
		log.Error("server stopped", "err", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.Server.ShutdownGrace.Duration.String())
	sch.Close() // waiters get 503 now; running requests keep their slots
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace.Duration)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		log.Warn("shutdown cut streams short", "err", serr)
	}
	if adminSrv != nil {
		_ = adminSrv.ShutdownWithContext(sctx)
	}
	// Shutdown does not reach a Serve that had not begun (a context that
	// ended at once): it would accept on after serve returned. Close the
	// listeners (again) and wait for every Serve to return.
	ln.Close()
	if aln != nil {
		aln.Close()
	}
	for ; serving > 0; serving-- {
		<-serveErr
	}
	led.Close()
	stopSched()
	return err
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

// adminToken returns the hash of the admin bearer token. With none in the
// config, one is generated at first start, printed once, and only its hash
// is kept in kv.
func adminToken(db *kv.DB, configured string, stdout io.Writer) ([32]byte, error) {
	if configured != "" {
		return sha256.Sum256([]byte(configured)), nil
	}
	var h [32]byte
	if v, err := db.GetMeta("admin_token_sha256"); err == nil {
		b, err := hex.DecodeString(v)
		if err != nil || len(b) != 32 {
			return h, errors.New("kv: corrupt admin token hash")
		}
		copy(h[:], b)
		return h, nil
	} else if !errors.Is(err, kv.ErrNotFound) {
		return h, err
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return h, err
	}
	tok := "sga-" + hex.EncodeToString(raw[:])
	h = sha256.Sum256([]byte(tok))
	if err := db.PutMeta("admin_token_sha256", hex.EncodeToString(h[:])); err != nil {
		return h, err
	}
	fmt.Fprintf(stdout, "admin token (shown once, keep it): %s\n", tok)
	return h, nil
}

// rememberProject keeps a discovered Code Assist project on a stored
// account, so the next start skips discovery.
func rememberProject(db *kv.DB, log *slog.Logger, name, project string) {
	a, err := db.GetAccount(name)
	if err != nil {
		return // a config account: discovered again at the next start
	}
	a.ProjectID = project
	if err := db.PutAccount(a); err != nil {
		log.Warn("keep code assist project", "acct", name, "err", err)
	}
}
