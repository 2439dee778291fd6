package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"subgate/kv"
	"subgate/proxy/oauth"
)

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
	var f accountFlags
	f.register(fs)
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return usageError("%s (%v)", loginUsage, err)
	}
	if len(pos) > 0 {
		return usageError("%s", loginUsage)
	}
	if err := f.check(); err != nil {
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
		who, acct.Name, acct.Type, tokenPrefix(acct.AccessToken), expiryText(acct.ExpiresAt.Time))
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
