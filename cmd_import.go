package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"subgate/kv"
)

// dbPath is where the kv database lives inside data_dir.
func dbPath(cfg Config) string {
	return filepath.Join(cfg.Server.DataDir, "subgate.db")
}

// withStore creates data_dir (0700) when missing, opens the kv database,
// calls fn and closes the database, reporting a failed close.
func withStore(cfg Config, fn func(*kv.DB) error) (err error) {
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	db, err := kv.Open(dbPath(cfg), kv.Options{})
	if errors.Is(err, kv.ErrLocked) {
		return fmt.Errorf("%w; stop the running server first", err)
	}
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

// accountFlags are the options shared by `import` and `login`.
type accountFlags struct {
	name        string
	group       string
	concurrency int
	priority    int
}

func (f *accountFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "account name (default: generated)")
	fs.StringVar(&f.group, "group", defaultGroup, "account group")
	fs.IntVar(&f.concurrency, "concurrency", defaultAccountConcurrency, "max in-flight requests")
	fs.IntVar(&f.priority, "priority", defaultAccountPriority, "priority, lower is preferred")
}

func (f *accountFlags) check() error {
	if f.concurrency < 1 {
		return usageError("--concurrency must be >= 1")
	}
	if f.group == "" {
		return usageError("--group must not be empty")
	}
	return nil
}

// accountName returns the name a new kv account gets: f.name when given and
// free, else prefix-N with the lowest free N. Config accounts count as taken
// because they win on a name clash.
func accountName(db *kv.DB, cfg Config, f accountFlags, prefix string) (string, error) {
	accts, err := db.Accounts()
	if err != nil {
		return "", fmt.Errorf("list accounts: %w", err)
	}
	taken := make(map[string]bool)
	for _, a := range accts {
		taken[a.Name] = true
	}
	for _, a := range cfg.Accounts {
		taken[a.Name] = true
	}
	if f.name != "" {
		if taken[f.name] {
			return "", fmt.Errorf("account %q already exists; choose another --name", f.name)
		}
		return f.name, nil
	}
	for n := 1; ; n++ {
		if name := fmt.Sprintf("%s-%d", prefix, n); !taken[name] {
			return name, nil
		}
	}
}

// tokenPrefix shows enough of a token to recognise it and never the secret
// part: "sk-ant-oat01…".
func tokenPrefix(tok string) string {
	n := 12
	if len(tok) < 2*n {
		n = len(tok) / 3
	}
	return tok[:n] + "…"
}

func notYet(cmd, platform string) error {
	return fmt.Errorf("%s %s: not supported yet (Codex and Gemini support comes in a later release)", cmd, platform)
}

const importUsage = "subgate import claude [FILE] [--name N] [--group G] [--concurrency C] [--priority P]"

// cmdImport implements `subgate import claude [FILE] ...`; args are the
// arguments after "import". It stores the OAuth login that Claude Code keeps
// in ~/.claude/.credentials.json as a kv account.
func cmdImport(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", importUsage)
	}
	switch args[0] {
	case "claude":
	case "codex", "gemini":
		return notYet("import", args[0])
	default:
		return usageError("unknown platform %q; %s", args[0], importUsage)
	}
	fset := flag.NewFlagSet("import claude", flag.ContinueOnError)
	var f accountFlags
	f.register(fset)
	pos, err := parseFlags(fset, args[1:])
	if err != nil {
		return usageError("%s (%v)", importUsage, err)
	}
	if len(pos) > 1 {
		return usageError("%s", importUsage)
	}
	if err := f.check(); err != nil {
		return err
	}
	file := ""
	if len(pos) == 1 {
		file = pos[0]
	} else {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("find credentials: %w", err)
		}
		file = filepath.Join(home, ".claude", ".credentials.json")
	}
	cred, err := readClaudeCredentials(file)
	if err != nil {
		return err
	}
	return importClaude(ctx, cfg, f, cred, stdout)
}

// claudeOAuth is the claudeAiOauth object of Claude Code's credentials file.
type claudeOAuth struct {
	AccessToken      string      `json:"accessToken"`
	RefreshToken     string      `json:"refreshToken"`
	ExpiresAt        json.Number `json:"expiresAt"` // ms since the epoch
	Scopes           []string    `json:"scopes"`
	SubscriptionType string      `json:"subscriptionType"`
}

func readClaudeCredentials(file string) (claudeOAuth, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return claudeOAuth{}, fmt.Errorf("read credentials: %w (log in with Claude Code first, or give the file's path)", err)
	}
	if err != nil {
		return claudeOAuth{}, fmt.Errorf("read credentials: %w", err)
	}
	var doc struct {
		ClaudeAiOauth *claudeOAuth `json:"claudeAiOauth"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return claudeOAuth{}, fmt.Errorf("%s: not a Claude Code credentials file: %w", file, err)
	}
	c := doc.ClaudeAiOauth
	switch {
	case c == nil:
		return claudeOAuth{}, fmt.Errorf("%s: no claudeAiOauth login (log in with `claude` first)", file)
	case c.AccessToken == "" && c.RefreshToken == "":
		return claudeOAuth{}, fmt.Errorf("%s: claudeAiOauth has neither accessToken nor refreshToken", file)
	case c.Scopes != nil && !slices.Contains(c.Scopes, "user:inference"):
		// An absent list (older files) is accepted; a list without the scope
		// is a login that cannot call the Messages API.
		return claudeOAuth{}, fmt.Errorf("%s: login lacks the user:inference scope; log in to Claude Code again", file)
	}
	return *c, nil
}

// expiry converts the ms epoch; 0 or unparsable means unknown (zero time).
func (c claudeOAuth) expiry() time.Time {
	ms, err := c.ExpiresAt.Float64()
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms))
}

func importClaude(ctx context.Context, cfg Config, f accountFlags, cred claudeOAuth, stdout io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var acct kv.Account
	err := withStore(cfg, func(db *kv.DB) error {
		sub := cred.SubscriptionType
		if sub == "" {
			sub = "oauth"
		}
		name, err := accountName(db, cfg, f, "claude-"+sub)
		if err != nil {
			return err
		}
		acct = kv.Account{
			Name:         name,
			Platform:     "anthropic",
			Type:         "oauth",
			AccessToken:  cred.AccessToken,
			RefreshToken: cred.RefreshToken,
			ExpiresAt:    cred.expiry(),
			Concurrency:  f.concurrency,
			Priority:     f.priority,
			Group:        f.group,
		}
		return putAccount(db, acct)
	})
	if err != nil {
		return err
	}
	tok := cred.AccessToken
	if tok == "" {
		tok = cred.RefreshToken
	}
	_, err = fmt.Fprintf(stdout, "imported Claude account %q (token %s, %s)\n"+
		"note: Claude Code and subgate now share this login; refresh tokens rotate, so when one\n"+
		"side refreshes, the other's copy stops working. `subgate login claude` gives subgate its own.\n",
		acct.Name, tokenPrefix(tok), expiryText(acct.ExpiresAt))
	return err
}

func putAccount(db *kv.DB, a kv.Account) error {
	if err := db.PutAccount(a); err != nil {
		return fmt.Errorf("store account %q: %w", a.Name, err)
	}
	return nil
}

func expiryText(t time.Time) string {
	if t.IsZero() {
		return "expiry unknown"
	}
	return "expires " + t.Local().Format(time.RFC3339)
}
