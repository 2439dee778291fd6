package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/kv"
	"subgate/ledger"
	"subgate/proxy"
	"subgate/proxy/edge"
	"subgate/proxy/identity"
	"subgate/proxy/oauth"
	"subgate/proxy/reqlog"
	"subgate/sched"
	"subgate/webui"
)

// App is subgate serving. NewApp opens kv, the ledger, the scheduler, the
// proxy and the admin UI, in that order; Run serves until its context
// ends and stops the servers; Close releases the rest in reverse: flush
// the ledger, snapshot the scheduler, close kv, then the log.
type App struct {
	cfg    Config
	log    *slog.Logger
	reqLog *reqlog.Writer
	db     *kv.DB
	led    *ledger.Ledger
	ids    *identity.Manager // the masked accounts' devices, saved in kv
	sch    *sched.Scheduler
	srv    *proxy.Server
	ui     *webui.Handler
	trust  *edge.Trust

	wg        sync.WaitGroup // the ledger's and the scheduler's Run
	stopLed   context.CancelFunc
	stopSched context.CancelFunc // its Run takes a final snapshot
	stopped   bool               // Run shut the servers down

	accounts, keys int // in the pool at start, for the log
}

// NewApp opens everything cfg describes but the listeners. The admin
// token is printed to stdout when one is generated; logs go to stderr.
// On an error everything opened so far is closed again.
func NewApp(cfg Config, stdout, stderr io.Writer) (_ *App, err error) {
	a := &App{cfg: cfg}
	a.log, a.reqLog = newLogger(cfg.Server, stderr)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.db, err = openStore(cfg, a.log); err != nil {
		return nil, err
	}
	adminHash, err := adminToken(a.db, cfg.Admin.Token, stdout)
	if err != nil {
		return nil, err
	}
	if err := a.startLedger(); err != nil {
		return nil, err
	}
	tokens := newTokens(cfg, a.db, a.log)
	a.ids = identity.New(identity.Config{Store: a.db, Logger: a.log})
	gw := &gateway{tokens: tokens, ids: a.ids} // its srv is set below, before anything serves
	admin := webui.NewAdmin(webui.AdminConfig{
		Store: a.db, Accounts: cfg.Accounts, Keys: cfg.keyModels(), ErrorRules: cfg.ErrorRules,
		Gateway: gw, Usage: a.led, Logger: a.log,
		Flow: func(platform, kind string) (*oauth.Flow, error) { return newOAuthFlow(cfg, platform, kind) },
	})
	models, keyModels, err := admin.Pool()
	if err != nil {
		return nil, err
	}
	accounts, keys, err := proxyPool(models, keyModels, a.ids)
	if err != nil {
		return nil, err
	}
	if err := a.startSched(models); err != nil {
		return nil, err
	}
	if a.trust, err = edge.ParseTrust(cfg.Server.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server.trusted_proxies: %w", err) // validated at load
	}
	a.ui = webui.New(webui.Config{
		TokenHash: adminHash, PasswordHash: cfg.Admin.PasswordHash,
		Sched: a.sch, Ledger: a.led, Accounts: admin, Keys: admin.Keys(), Rules: admin.Rules(),
		Backup: a.db.WriteTo, Logger: a.log, Trust: a.trust, WriteTimeout: cfg.Server.WriteTimeout.Duration,
		SecureCookies: cfg.Server.TLSCert != "" || cfg.Admin.CookieSecure,
	})
	a.srv = a.newProxy(tokens, accounts, keys)
	gw.srv = a.srv
	a.applyUIRules(admin)
	a.accounts, a.keys = len(accounts), len(keys)
	return a, nil
}

// applyUIRules hands the proxy the error rules added in the admin UI. They
// were checked when they were added; should they no longer apply (a
// config rule added since makes the list invalid, a damaged store), the
// gateway starts with the config's rules and the defaults, and says so.
func (a *App) applyUIRules(admin *webui.Admin) {
	ui, err := admin.UIRules()
	if err == nil && len(ui) > 0 {
		err = a.srv.SetErrorRules(ui)
	}
	if err != nil {
		a.log.Error("error rules of the admin UI not applied", "err", err)
	}
}

// startLedger opens the ledger over kv, rebuilds its quota counters and
// runs its writer.
func (a *App) startLedger() error {
	lc := a.cfg.Ledger
	loc, _ := time.LoadLocation(lc.Timezone) // validated at load
	a.led = ledger.New(ledger.Config{
		Store:         a.db,
		Pricing:       ledger.NewPricing(loadPriceTable(a.cfg.Server.DataDir, a.log), a.cfg.priceOverrides()),
		Logger:        a.log,
		FlushInterval: lc.FlushInterval.Duration,
		Location:      loc,
		RetentionDays: lc.RetentionDays,
		MaxPending:    lc.MaxPending,
		AllowUnpriced: lc.Unpriced == unpricedAllow,
	})
	if err := a.led.Rebuild(time.Now()); err != nil {
		return fmt.Errorf("rebuild quota counters: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	a.stopLed = stop
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.led.Run(ctx) }()
	return nil
}

// startSched opens the scheduler over the pool's accounts, each as its
// scheduling view, and runs its sweeper.
func (a *App) startSched(models []kv.Account) error {
	accounts := make([]sched.Account, len(models))
	for i, m := range models {
		accounts[i] = m.Sched()
	}
	sc := a.cfg.Scheduler
	sch, err := sched.New(sched.Config{
		Accounts:            accounts,
		Store:               a.db,
		Logger:              a.log,
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
	a.sch = sch
	ctx, stop := context.WithCancel(context.Background())
	a.stopSched = stop
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.sch.Run(ctx) }()
	return nil
}

// Run listens and serves until ctx ends or a server fails, then shuts the
// servers down: waiters get 503 at once, streams drain within
// shutdown_grace. Call it once; Close afterwards either way.
func (a *App) Run(ctx context.Context) error {
	sc := a.cfg.Server
	ln, err := listen(sc, sc.Listen)
	if err != nil {
		return err
	}
	var aln net.Listener
	if sc.AdminListen != "" {
		if aln, err = listen(sc, sc.AdminListen); err != nil {
			ln.Close()
			return err
		}
	}
	a.log.Info("subgate listening", "addr", ln.Addr().String(), "tls", sc.TLSCert != "",
		"accounts", a.accounts, "keys", a.keys, "version", version)
	serveErr := make(chan error, 2)
	serving := 1
	go func() { serveErr <- a.srv.Serve(ln) }()
	var adminSrv *fasthttp.Server
	if aln != nil {
		var guard *edge.Guard
		adminSrv, guard = newAdminServer(sc, a.ui, a.trust, a.log)
		a.log.Info("admin listening", "addr", aln.Addr().String())
		serving++
		go func() { serveErr <- adminSrv.Serve(guard.Listener(aln)) }()
	}

	select {
	case err = <-serveErr:
		serving--
		a.log.Error("server stopped", "err", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "grace", sc.ShutdownGrace.Duration.String())
	a.stopped = true
	a.sch.Close() // waiters get 503 now; running requests keep their slots
	sctx, cancel := context.WithTimeout(context.Background(), sc.ShutdownGrace.Duration)
	defer cancel()
	if serr := a.srv.Shutdown(sctx); serr != nil {
		a.log.Warn("shutdown cut streams short", "err", serr)
	}
	if adminSrv != nil {
		_ = adminSrv.ShutdownWithContext(sctx)
	}
	// Shutdown does not reach a Serve that had not begun (a context that
	// ended at once): it would accept on after Run returned. Close the
	// listeners (again) and wait for every Serve to return.
	ln.Close()
	if aln != nil {
		aln.Close()
	}
	for ; serving > 0; serving-- {
		<-serveErr
	}
	return err
}

// Close releases what NewApp opened, in reverse: the servers if Run did
// not stop them, then the ledger (flushed), the scheduler (a final
// snapshot), kv, and last the log everything wrote through. It returns
// kv's close error.
func (a *App) Close() error {
	if a.srv != nil && !a.stopped {
		a.stopped = true
		a.sch.Close()
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownGrace.Duration)
		_ = a.srv.Shutdown(ctx)
		cancel()
	}
	if a.led != nil {
		a.led.Close()
	}
	if a.ids != nil {
		a.ids.Close() // saves the profiles learned since the last save
	}
	for _, stop := range []context.CancelFunc{a.stopSched, a.stopLed} {
		if stop != nil {
			stop()
		}
	}
	a.wg.Wait()
	var err error
	if a.db != nil {
		err = a.db.Close()
	}
	a.reqLog.Close()
	return err
}

// newProxy builds the gateway over the opened parts; the admin UI is
// mounted on it unless it listens apart.
func (a *App) newProxy(tokens *oauth.Tokens, accounts []proxy.Account, keys []proxy.Key) *proxy.Server {
	cfg, sc := a.cfg, a.cfg.Scheduler
	up, oa, gm := cfg.Upstreams.Anthropic, cfg.Upstreams.OpenAI, cfg.Upstreams.Gemini
	var adminOnMain fasthttp.RequestHandler
	if cfg.Server.AdminListen == "" {
		adminOnMain = a.ui.Handler
	}
	db, log := a.db, a.log
	return proxy.New(proxy.Config{
		Logger:             log,
		RequestLog:         a.reqLog,
		Sched:              a.sch,
		Ledger:             a.led,
		Tokens:             tokens,
		Accounts:           accounts,
		Keys:               keys,
		Groups:             proxyGroups(cfg.Groups),
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
		Trust:              a.trust,
		MetricsEnabled:     cfg.Metrics.Enabled,
		MetricsToken:       cfg.Metrics.Token,
		MetricsPublic:      cfg.Metrics.Public,
		Admin:              adminOnMain,
		ErrorRules:         cfg.ErrorRules,
		AdminAuth:          a.ui.Authorized,
	})
}

// newTokens is the OAuth token manager with the [upstreams] clients.
func newTokens(cfg Config, db *kv.DB, log *slog.Logger) *oauth.Tokens {
	up, oa, gm := cfg.Upstreams.Anthropic, cfg.Upstreams.OpenAI, cfg.Upstreams.Gemini
	return oauth.NewTokens(oauth.TokensConfig{
		Store:  db,
		Logger: log,
		Ahead:  cfg.Scheduler.RefreshAhead.Duration,
		Endpoints: map[string]oauth.Endpoint{
			"anthropic": {TokenURL: up.OAuthTokenURL, ClientID: up.OAuthClientID, UserAgent: up.UserAgent},
			"openai":    {TokenURL: oa.OAuthTokenURL, ClientID: oa.OAuthClientID},
			"gemini":    {TokenURL: gm.OAuthTokenURL, ClientID: gm.OAuthClientID, ClientSecret: gm.OAuthClientSecret},
		},
	})
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
