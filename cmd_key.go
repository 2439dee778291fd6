package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/BurntSushi/toml"

	"subgate/kv"
)

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

const keyNewUsage = "subgate key new NAME [--group G]"

// cmdKeyNew implements `subgate key new NAME [--group G]`; args are the
// arguments after "key new". It prints a fresh client key once and the
// [[keys]] block to paste into the config, which holds only the key's hash.
func cmdKeyNew(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("key new", flag.ContinueOnError)
	group := fs.String("group", defaultGroup, "group of accounts the key may use")
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
