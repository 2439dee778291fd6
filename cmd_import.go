package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"subgate/kv"
	"subgate/proxy/oauth"
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
	key, err := masterKey(cfg.Server)
	if err != nil {
		return err
	}
	db, err := kv.Open(dbPath(cfg), kv.Options{MasterKey: key})
	if err != nil {
		return openError(err)
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

const importUsage = "subgate import claude|codex|gemini [FILE] [--name N] [--group G] [--concurrency C] [--priority P]"

// cmdImport implements `subgate import claude|codex|gemini [FILE] ...`;
// args are the arguments after "import". It stores the login that Claude
// Code, Codex CLI or Gemini CLI keeps in its home directory as a kv account.
func cmdImport(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", importUsage)
	}
	cli := args[0]
	rel, ok := oauth.ImportPath(cli)
	if !ok {
		return usageError("unknown platform %q; %s", cli, importUsage)
	}
	fset := flag.NewFlagSet("import "+cli, flag.ContinueOnError)
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
		file = filepath.Join(home, rel)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	acct, plan, err := oauth.ImportFile(cli, file)
	if err != nil {
		return err
	}
	prefix := cli + "-oauth"
	switch {
	case cli == "claude":
		prefix = "claude-" + cmp.Or(plan, "oauth")
	case acct.Type == "api_key":
		prefix = cli + "-apikey"
	}
	if acct, err = storeImport(cfg, f, prefix, acct); err != nil {
		return err
	}
	token := cmp.Or(acct.AccessToken, acct.RefreshToken)
	switch {
	case acct.Type == "api_key":
		_, err = fmt.Fprintf(stdout, "imported OpenAI API key account %q (key %s)\n", acct.Name, tokenPrefix(acct.APIKey))
	case cli == "gemini":
		_, err = fmt.Fprintf(stdout, "imported Gemini account %q (token %s, %s)\n",
			acct.Name, tokenPrefix(token), expiryText(acct.ExpiresAt.Time))
	default:
		who, login := "Claude", "Claude Code"
		if cli == "codex" {
			who, login = "Codex", "Codex CLI"
		}
		_, err = fmt.Fprintf(stdout, "imported %s account %q (token %s, %s)\n"+
			"note: %s and subgate now share this login; refresh tokens rotate, so when one\n"+
			"side refreshes, the other's copy stops working. `subgate login %s` gives subgate its own.\n",
			who, acct.Name, tokenPrefix(token), expiryText(acct.ExpiresAt.Time), login, cli)
	}
	return err
}

// storeImport names acct (prefix-N unless --name), applies the flags and
// stores it.
func storeImport(cfg Config, f accountFlags, prefix string, acct kv.Account) (kv.Account, error) {
	err := withStore(cfg, func(db *kv.DB) error {
		name, err := accountName(db, cfg, f, prefix)
		if err != nil {
			return err
		}
		acct.Name, acct.Group = name, f.group
		acct.Concurrency, acct.Priority = f.concurrency, f.priority
		return putAccount(db, acct)
	})
	return acct, err
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
