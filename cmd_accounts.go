package main

// cmd_accounts.go: the commands that add credentials: import and login
// store an upstream account, key new prints a client key's block, admin
// hash-password the UI password's.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/crypto/bcrypt"

	"subgate/kv"
	"subgate/proxy/oauth"
)

// accountFlags are the options shared by `import` and `login`.
type accountFlags struct {
	name        string
	group       string
	concurrency int
	priority    int
}

func (f *accountFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "account name (default: generated)")
	fs.StringVar(&f.group, "group", kv.DefaultGroup, "account group")
	fs.IntVar(&f.concurrency, "concurrency", kv.DefaultConcurrency, "max in-flight requests")
	fs.IntVar(&f.priority, "priority", kv.DefaultPriority, "priority, lower is preferred")
}

// parseAccountFlags parses the account flags, and those fs already has,
// over args, allowing at most maxPos positional arguments.
func parseAccountFlags(fs *flag.FlagSet, args []string, usage string, maxPos int) (accountFlags, []string, error) {
	var f accountFlags
	f.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return f, nil, usageError("%s (%v)", usage, err)
	}
	if len(pos) > maxPos {
		return f, nil, usageError("%s", usage)
	}
	return f, pos, f.check()
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
	f, pos, err := parseAccountFlags(flag.NewFlagSet("import "+cli, flag.ContinueOnError), args[1:], importUsage, 1)
	if err != nil {
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
		_, err = fmt.Fprintf(stdout, "imported OpenAI API key account %q (key %s)\n", acct.Name, kv.SecretPrefix(acct.APIKey))
	case cli == "gemini":
		_, err = fmt.Fprintf(stdout, "imported Gemini account %q (token %s, %s)\n",
			acct.Name, kv.SecretPrefix(token), expiryText(acct.ExpiresAt.Time))
	default:
		who, login := "Claude", "Claude Code"
		if cli == "codex" {
			who, login = "Codex", "Codex CLI"
		}
		_, err = fmt.Fprintf(stdout, "imported %s account %q (token %s, %s)\n"+
			"note: %s and subgate now share this login; refresh tokens rotate, so when one\n"+
			"side refreshes, the other's copy stops working. `subgate login %s` gives subgate its own.\n",
			who, acct.Name, kv.SecretPrefix(token), expiryText(acct.ExpiresAt.Time), login, cli)
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

// putAccount checks a new account with the model's Validate and stores it.
func putAccount(db *kv.DB, a kv.Account) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("account %q: %w", a.Name, err)
	}
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

const loginUsage = "subgate login claude [--setup-token] | codex [--no-browser] | gemini" +
	"  [--name N] [--group G] [--concurrency C] [--priority P]"

// cmdLogin implements `subgate login claude|codex|gemini ...`; args are the
// arguments after "login". It runs the platform's PKCE login (print the
// authorize URL, take the code back) and stores the tokens as a kv account.
func cmdLogin(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", loginUsage)
	}
	var platform string
	switch args[0] {
	case "claude":
		platform = "anthropic"
	case "codex":
		platform = "openai"
	case "gemini":
		platform = "gemini"
	default:
		return usageError("unknown platform %q; %s", args[0], loginUsage)
	}
	fs := flag.NewFlagSet("login "+args[0], flag.ContinueOnError)
	var setup, noBrowser bool
	switch platform {
	case "anthropic":
		fs.BoolVar(&setup, "setup-token", false, "long-lived (1 year) inference-only token, never refreshed")
	case "openai":
		fs.BoolVar(&noBrowser, "no-browser", false, "only print the URL; do not open a browser")
	}
	f, _, err := parseAccountFlags(fs, args[1:], loginUsage, 0)
	if err != nil {
		return err
	}
	kind, prefix := "oauth", args[0]+"-oauth"
	if setup {
		kind, prefix = "setup_token", "claude-setup"
	}
	flow, err := newOAuthFlow(cfg, platform, kind)
	if err != nil {
		return err
	}
	var acct kv.Account
	// The store is opened first so that a locked data dir or a taken name
	// fails before the user spends a single-use authorization code.
	err = withStore(cfg, func(db *kv.DB) error {
		name, err := accountName(db, cfg, f, prefix)
		if err != nil {
			return err
		}
		if platform == "openai" {
			acct, err = callbackLogin(ctx, flow, !noBrowser, stdin, stdout)
		} else {
			acct, err = pasteLogin(ctx, flow, stdin, stdout)
		}
		if err != nil {
			return err
		}
		acct.Name, acct.Group = name, f.group
		acct.Concurrency, acct.Priority = f.concurrency, f.priority
		return putAccount(db, acct)
	})
	if err != nil {
		return err
	}
	who := acct.Email
	if who == "" {
		who = "(email not reported)"
	}
	_, err = fmt.Fprintf(stdout, "logged in as %s; stored account %q (type %s, token %s, %s)\n",
		who, acct.Name, acct.Type, kv.SecretPrefix(acct.AccessToken), expiryText(acct.ExpiresAt.Time))
	return err
}

// pasteLogin prints the authorize URL and finishes with the line the user
// pastes: code#state for Claude, the bare code for Google.
func pasteLogin(ctx context.Context, flow *oauth.Flow, stdin io.Reader, stdout io.Writer) (kv.Account, error) {
	authURL, state, verifier, err := flow.Start()
	if err != nil {
		return kv.Account{}, err
	}
	who, what := "Claude", "the code the page shows (code#state), or the whole callback URL"
	if flow.Config().Platform == "gemini" {
		who, what = "Google", "the authorization code the page shows"
	}
	fmt.Fprintf(stdout, "Open this URL in a browser and sign in with the %s account to add:\n\n%s\n\n"+
		"Then paste %s:\n", who, authURL, what)
	line, err := readLine(ctx, stdin)
	if err != nil {
		return kv.Account{}, err
	}
	return flow.Finish(ctx, line, state, verifier)
}

// callbackLogin is the Codex login: the browser comes back to the loopback
// redirect URL where a local listener catches the code, and at the same
// time a pasted redirected URL is accepted on stdin for a browser on
// another machine. Whichever arrives first wins.
func callbackLogin(ctx context.Context, flow *oauth.Flow, browser bool, stdin io.Reader, stdout io.Writer) (kv.Account, error) {
	authURL, state, verifier, err := flow.Start()
	if err != nil {
		return kv.Account{}, err
	}
	redirect := flow.Config().RedirectURL
	var callbacks <-chan oauth.Redirect
	cs, lerr := oauth.ListenCallback(redirect, state)
	if lerr == nil {
		defer cs.Close()
		callbacks = cs.Redirects()
	}
	fmt.Fprintf(stdout, "Open this URL in a browser and sign in with the ChatGPT account to add:\n\n%s\n\n", authURL)
	if lerr != nil {
		fmt.Fprintf(stdout, "(no local callback: %v)\n", lerr)
	} else {
		fmt.Fprintf(stdout, "Waiting for the browser at %s.\n", redirect)
	}
	fmt.Fprint(stdout, "If the browser runs on another machine, its last page will not load: "+
		"copy that page's whole URL from the address bar and paste it here:\n")
	if browser {
		_ = openBrowser(authURL) // best effort: the URL is printed above
	}
	stop := make(chan struct{})
	defer close(stop)
	lines := readLines(stdin, stop)
	for {
		select {
		case <-ctx.Done():
			return kv.Account{}, ctx.Err()
		case cb := <-callbacks:
			acct, err := flow.Finish(ctx, cb.URL, state, verifier)
			cb.Reply <- err
			return acct, err
		case line, ok := <-lines:
			switch {
			case !ok && callbacks == nil:
				return kv.Account{}, errors.New("read code: no input and no local callback")
			case !ok:
				lines = nil // stdin closed: wait for the browser alone
			default:
				return flow.Finish(ctx, line, state, verifier)
			}
		}
	}
}

// openBrowser asks the desktop to open u. Without a display (over SSH) it
// does nothing; the URL is printed anyway.
func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no display")
		}
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reaps the opener, which exits once the browser has the URL
	return nil
}

// readLine reads one line from r. The read runs in its own goroutine so that
// Ctrl-C (ctx) ends the wait: a blocked terminal read cannot be interrupted,
// and the goroutine ends with the process.
func readLine(ctx context.Context, r io.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case res := <-ch:
		if res.err != nil && (!errors.Is(res.err, io.EOF) || strings.TrimSpace(res.line) == "") {
			return "", fmt.Errorf("read code: %w", res.err)
		}
		return res.line, nil
	}
}

// readLines sends r's non-blank lines until EOF, a read error or stop, then
// closes the channel. A read blocked on a terminal cannot be interrupted: that
// goroutine ends with the process (or with stdin's EOF in tests).
func readLines(r io.Reader, stop <-chan struct{}) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			select {
			case ch <- sc.Text():
			case <-stop:
				return
			}
		}
	}()
	return ch
}

const keyNewUsage = "subgate key new NAME [--group G]"

// cmdKeyNew implements `subgate key new NAME [--group G]`; args are the
// arguments after "key new". It prints a fresh client key once and the
// [[keys]] block to paste into the config, which holds only the key's hash.
func cmdKeyNew(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("key new", flag.ContinueOnError)
	group := fs.String("group", kv.DefaultGroup, "group of accounts the key may use")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return usageError("%s (%v)", keyNewUsage, err)
	}
	if len(pos) != 1 || pos[0] == "" {
		return usageError("%s", keyNewUsage)
	}
	key, err := kv.NewSecret()
	if err != nil {
		return err
	}
	kc := KeyConfig{Key: kv.Key{Name: pos[0], Group: *group}, Secret: key}
	block, err := keyBlock(kc)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, `New client key %q (shown only this once, keep it now):

    %s

Add this to the config file; it holds only the key's sha256:

%s
Alternatively, write key = "%s" in place of key_sha256:
subgate hashes it when loading, but the file then holds the key in clear.
`, kc.Name, key, block, key)
	return err
}

// keyBlock renders the [[keys]] entry with proper TOML quoting.
func keyBlock(k KeyConfig) ([]byte, error) {
	type entry struct {
		Name      string `toml:"name"`
		KeySHA256 string `toml:"key_sha256"`
		Group     string `toml:"group"`
	}
	doc := struct {
		Keys []entry `toml:"keys"`
	}{[]entry{{k.Name, k.SecretHash(), k.Group}}}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode key block: %w", err)
	}
	return buf.Bytes(), nil
}

// cmdHashPassword reads a password from stdin (one line) and prints the
// bcrypt hash to put in [admin] password_hash. The password itself is
// never stored or printed.
func cmdHashPassword(stdin io.Reader, stdout io.Writer) error {
	fmt.Fprintln(stdout, "password for the admin UI (one line on stdin):")
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 12 {
		return usageError("use at least 12 characters")
	}
	if len(pw) > 72 {
		return usageError("bcrypt takes at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 12)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n[admin]\npassword_hash = %q\n", h)
	return nil
}
