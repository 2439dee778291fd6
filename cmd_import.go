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
	"strings"
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

// importSource is where a platform's CLI keeps its login, under $HOME.
func importSource(platform string) (dir, file string, ok bool) {
	switch platform {
	case "claude":
		return ".claude", ".credentials.json", true
	case "codex":
		return ".codex", "auth.json", true
	case "gemini":
		return ".gemini", "oauth_creds.json", true
	}
	return "", "", false
}

// cmdImport implements `subgate import claude|codex|gemini [FILE] ...`;
// args are the arguments after "import". It stores the login that Claude
// Code, Codex CLI or Gemini CLI keeps in its home directory as a kv account.
func cmdImport(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", importUsage)
	}
	dir, name, ok := importSource(args[0])
	if !ok {
		return usageError("unknown platform %q; %s", args[0], importUsage)
	}
	fset := flag.NewFlagSet("import "+args[0], flag.ContinueOnError)
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
		file = filepath.Join(home, dir, name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch args[0] {
	case "codex":
		return importCodex(cfg, f, file, stdout)
	case "gemini":
		return importGemini(cfg, f, file, stdout)
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
	data, err := readLoginFile(file, "log in with Claude Code first")
	if err != nil {
		return claudeOAuth{}, err
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
	sub := cred.SubscriptionType
	if sub == "" {
		sub = "oauth"
	}
	acct, err := storeImport(cfg, f, "claude-"+sub, kv.Account{
		Platform:     "anthropic",
		Type:         "oauth",
		AccessToken:  cred.AccessToken,
		RefreshToken: cred.RefreshToken,
		ExpiresAt:    kv.Time{Time: cred.expiry()},
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "imported Claude account %q (token %s, %s)\n"+
		"note: Claude Code and subgate now share this login; refresh tokens rotate, so when one\n"+
		"side refreshes, the other's copy stops working. `subgate login claude` gives subgate its own.\n",
		acct.Name, tokenPrefix(firstNonEmpty(cred.AccessToken, cred.RefreshToken)), expiryText(acct.ExpiresAt.Time))
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

// readLoginFile reads a CLI's credentials file; hint says how to create it.
func readLoginFile(file, hint string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read credentials: %w (%s, or give the file's path)", err, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	return data, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
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

// codexAuth is Codex CLI's ~/.codex/auth.json.
type codexAuth struct {
	AuthMode     string `json:"auth_mode"` // chatgpt | apikey; absent in older files
	OpenAIAPIKey string `json:"OPENAI_API_KEY"`
	Tokens       *struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		AccountID    string `json:"account_id"`
	} `json:"tokens"`
}

// codexAccount turns auth.json into an openai account: the ChatGPT login
// when it has tokens (unless the file says it is in API-key mode), else the
// API key.
func codexAccount(file string, data []byte) (kv.Account, error) {
	var doc codexAuth
	if err := json.Unmarshal(data, &doc); err != nil {
		return kv.Account{}, fmt.Errorf("%s: not a Codex auth file: %w", file, err)
	}
	t := doc.Tokens
	hasTokens := t != nil && (t.AccessToken != "" || t.RefreshToken != "")
	if doc.OpenAIAPIKey != "" && (!hasTokens || strings.EqualFold(doc.AuthMode, "apikey")) {
		return kv.Account{Platform: "openai", Type: "api_key", APIKey: doc.OpenAIAPIKey}, nil
	}
	if !hasTokens {
		return kv.Account{}, fmt.Errorf("%s: neither a ChatGPT login nor OPENAI_API_KEY (run `codex login` first)", file)
	}
	id := parseJWT(t.IDToken)
	a := kv.Account{
		Platform: "openai", Type: "oauth",
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, IDToken: t.IDToken,
		AccountID: firstNonEmpty(t.AccountID, id.Auth.ChatGPTAccountID, parseJWT(t.AccessToken).Auth.ChatGPTAccountID),
		Email:     id.Email,
		ExpiresAt: kv.Time{Time: parseJWT(t.AccessToken).expiry()},
	}
	return a, nil
}

func importCodex(cfg Config, f accountFlags, file string, stdout io.Writer) error {
	data, err := readLoginFile(file, "log in with `codex login` first")
	if err != nil {
		return err
	}
	acct, err := codexAccount(file, data)
	if err != nil {
		return err
	}
	if acct.Type == "api_key" {
		if acct, err = storeImport(cfg, f, "codex-apikey", acct); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "imported OpenAI API key account %q (key %s)\n", acct.Name, tokenPrefix(acct.APIKey))
		return err
	}
	if acct, err = storeImport(cfg, f, "codex-oauth", acct); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "imported Codex account %q (token %s, %s)\n"+
		"note: Codex CLI and subgate now share this login; refresh tokens rotate, so when one\n"+
		"side refreshes, the other's copy stops working. `subgate login codex` gives subgate its own.\n",
		acct.Name, tokenPrefix(firstNonEmpty(acct.AccessToken, acct.RefreshToken)), expiryText(acct.ExpiresAt.Time))
	return err
}

// geminiCreds is Gemini CLI's ~/.gemini/oauth_creds.json (google-auth-library
// credentials).
type geminiCreds struct {
	AccessToken  string      `json:"access_token"`
	RefreshToken string      `json:"refresh_token"`
	IDToken      string      `json:"id_token"`
	ExpiryDate   json.Number `json:"expiry_date"` // ms since the epoch
	TokenType    string      `json:"token_type"`
	Scope        string      `json:"scope"`
}

func geminiAccount(file string, data []byte) (kv.Account, error) {
	var c geminiCreds
	if err := json.Unmarshal(data, &c); err != nil {
		return kv.Account{}, fmt.Errorf("%s: not a Gemini CLI credentials file: %w", file, err)
	}
	switch {
	case c.AccessToken == "" && c.RefreshToken == "":
		return kv.Account{}, fmt.Errorf("%s: neither access_token nor refresh_token (log in with `gemini` first)", file)
	case c.Scope != "" && !strings.Contains(c.Scope, "/auth/cloud-platform"):
		// Code Assist needs cloud-platform; an absent scope is accepted.
		return kv.Account{}, fmt.Errorf("%s: login lacks the cloud-platform scope; log in to Gemini CLI again", file)
	}
	a := kv.Account{
		Platform: "gemini", Type: "oauth",
		AccessToken: c.AccessToken, RefreshToken: c.RefreshToken,
		Email: parseJWT(c.IDToken).Email,
	}
	if ms, err := c.ExpiryDate.Float64(); err == nil && ms > 0 {
		a.ExpiresAt = kv.Time{Time: time.UnixMilli(int64(ms))}
	}
	return a, nil
}

func importGemini(cfg Config, f accountFlags, file string, stdout io.Writer) error {
	data, err := readLoginFile(file, "log in with Gemini CLI (`gemini`, Login with Google) first")
	if err != nil {
		return err
	}
	acct, err := geminiAccount(file, data)
	if err != nil {
		return err
	}
	if acct, err = storeImport(cfg, f, "gemini-oauth", acct); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "imported Gemini account %q (token %s, %s)\n",
		acct.Name, tokenPrefix(firstNonEmpty(acct.AccessToken, acct.RefreshToken)), expiryText(acct.ExpiresAt.Time))
	return err
}
