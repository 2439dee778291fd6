// Command subgate pools AI subscriptions and API accounts behind keys it
// issues. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Set by -ldflags at release builds.
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "subgate:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  subgate [serve] [-c FILE]          serve (default config: ./config.toml, else built-in defaults)
  subgate version
  subgate key new NAME [--group G]   print a new client key and its [[keys]] block
  subgate import claude|codex|gemini [FILE]
                                     import a CLI's login (~/.claude/.credentials.json,
                                     ~/.codex/auth.json, ~/.gemini/oauth_creds.json)
  subgate login claude [--setup-token] | codex [--no-browser] | gemini
  subgate admin hash-password        read a password on stdin, print [admin] password_hash
  subgate prices update [URL]        download a newer price table (LiteLLM's format; default: the
                                     model-price-repo mirror) into data_dir; used at the next start
  subgate usage [--days N] [--by key|account|model]
                                     print the ledger's summary (server stopped)
  subgate backup OUT                 snapshot the database to OUT (server stopped; else GET /admin/api/backup)
  subgate restore IN                 replace the database with the backup IN (server stopped)
  subgate compact                    reclaim free space in the database (server stopped)
  subgate secrets rotate --new-key-file F | --decrypt
                                     re-encrypt stored credentials under a new master key (server stopped)
  subgate secrets keygen FILE        write a new master key (mode 0600)
Every command that reads the config takes -c FILE.`

// run dispatches a subcommand; it is main without the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfgPath, args, err := configFlag(args)
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		if len(args) > 0 {
			return fmt.Errorf("%w: serve takes no arguments besides -c", errUsage)
		}
		cfg, err := loadConfigOrDefault(cfgPath)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintf(stdout, "subgate %s (commit %s, built %s)\n", version, commit, date)
		return nil
	case "key":
		if len(args) == 0 || args[0] != "new" {
			return fmt.Errorf("%w: subgate key new NAME", errUsage)
		}
		return cmdKeyNew(args[1:], stdout)
	case "import", "login":
		cfg, err := loadConfigOrDefault(cfgPath)
		if err != nil {
			return err
		}
		if cmd == "import" {
			return cmdImport(ctx, cfg, args, stdout)
		}
		return cmdLogin(ctx, cfg, args, stdin, stdout)
	case "admin":
		if len(args) != 1 || args[0] != "hash-password" {
			return fmt.Errorf("%w: subgate admin hash-password", errUsage)
		}
		return cmdHashPassword(stdin, stdout)
	case "usage":
		cfg, err := loadConfigOrDefault(cfgPath)
		if err != nil {
			return err
		}
		return cmdUsage(ctx, cfg, args, stdout)
	case "prices":
		cfg, err := loadConfigOrDefault(cfgPath)
		if err != nil {
			return err
		}
		return cmdPrices(ctx, cfg, args, stdout)
	case "backup", "restore", "compact", "secrets":
		cfg, err := loadConfigOrDefault(cfgPath)
		if err != nil {
			return err
		}
		return cmdData(cmd, cfg, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("%w: unknown command %q\n%s", errUsage, cmd, usage)
	}
}

// configFlag takes -c/--config FILE (or -c=FILE) out of args wherever it
// stands, so it works before and after subcommand words.
func configFlag(args []string) (string, []string, error) {
	var path string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-c" || a == "--config" || a == "-config":
			if i+1 >= len(args) {
				return "", nil, fmt.Errorf("%w: %s needs a file", errUsage, a)
			}
			path = args[i+1]
			i++
		case strings.HasPrefix(a, "-c=") || strings.HasPrefix(a, "--config="):
			path = a[strings.IndexByte(a, '=')+1:]
		default:
			rest = append(rest, a)
		}
	}
	return path, rest, nil
}

// loadConfigOrDefault loads path; with no path it uses ./config.toml when
// present, else the built-in defaults.
func loadConfigOrDefault(path string) (Config, error) {
	if path == "" {
		if _, err := os.Stat("config.toml"); err == nil {
			path = "config.toml"
		}
	}
	return LoadConfig(path)
}

// serve runs the gateway until ctx ends: build the App, Run it, Close it.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	app, err := NewApp(cfg, stdout, stderr)
	if err != nil {
		return err
	}
	err = app.Run(ctx)
	if cerr := app.Close(); err == nil {
		err = cerr
	}
	return err
}

// errUsage marks a command-line mistake; main may exit 2 on it.
var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// parseFlags parses fs over args and returns the positional arguments; flags
// may come before, between or after them ("key new alice --group team").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
