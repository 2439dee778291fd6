package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"subgate/ledger"
)

// defaultPricesURL is the filtered mirror of LiteLLM's price table that
// sub2api and claude-relay-service also read (see ledger/data/README.md).
const defaultPricesURL = "https://raw.githubusercontent.com/Wei-Shaw/model-price-repo/main/model_prices_and_context_window.json"

const (
	// priceTableFile is the downloaded table's name in data_dir.
	priceTableFile = "model_prices.json"
	// maxPriceTable bounds a download: LiteLLM's unfiltered table is a
	// few MB, the mirror a few hundred KB.
	maxPriceTable = 32 << 20
	// pricesTimeout bounds the whole download.
	pricesTimeout = 2 * time.Minute
)

// cmdPrices runs `subgate prices update [URL]`: it downloads a price
// table, checks it and replaces data_dir's copy. A running server keeps
// the table it started with until it restarts.
func cmdPrices(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "update" || len(args) > 2 {
		return fmt.Errorf("%w: subgate prices update [URL]", errUsage)
	}
	src := defaultPricesURL
	if len(args) == 2 {
		src = args[1]
	}
	client := &http.Client{Timeout: pricesTimeout}
	n, path, err := updatePrices(ctx, client, src, cfg.Server.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d model prices to %s; restart subgate to use them\n", n, path)
	return nil
}

// updatePrices downloads the table at src, parses and checks it with
// ledger.ParseTable, and only then writes it to dataDir (mode 0600,
// atomically). It returns the number of priced models and the file.
func updatePrices(ctx context.Context, client *http.Client, src, dataDir string) (int, string, error) {
	u, err := url.Parse(src)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return 0, "", fmt.Errorf("prices update: %q is not an http(s) URL", src)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return 0, "", fmt.Errorf("prices update: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("prices update: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("prices update: GET %s: %s", src, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPriceTable+1))
	if err != nil {
		return 0, "", fmt.Errorf("prices update: read %s: %w", src, err)
	}
	if len(data) > maxPriceTable {
		return 0, "", fmt.Errorf("prices update: %s is larger than %d MiB", src, maxPriceTable>>20)
	}
	table, err := ledger.ParseTable(data)
	if err != nil {
		return 0, "", fmt.Errorf("prices update: %s: %w", src, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return 0, "", fmt.Errorf("prices update: create data dir: %w", err)
	}
	path := filepath.Join(dataDir, priceTableFile)
	if err := writeFileAtomic(path, data); err != nil {
		return 0, "", fmt.Errorf("prices update: %w", err)
	}
	return table.Len(), path, nil
}

// writeFileAtomic replaces path with data, mode 0600: a reader (or a
// crash) sees the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}

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
