package main

// cmd_ledger.go: the commands on the ledger and its prices: usage prints
// the rollups offline, prices update fetches a newer price table.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"subgate/kv"
	"subgate/ledger"
)

// cmdUsage prints a per-key summary of the ledger: `subgate usage [--days N]
// [--by key|account|model]`. It reads the hourly rollups offline, so the
// server must be stopped (the admin UI shows the same while it runs).
func cmdUsage(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	days := fs.Int("days", 30, "how many days back")
	by := fs.String("by", "key", "group by key, account or model")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *days < 1 {
		return usageError("--days must be >= 1")
	}
	if *by != "key" && *by != "account" && *by != "model" {
		return usageError("--by must be key, account or model")
	}
	db, err := kv.Open(dbPath(cfg), kv.Options{})
	if errors.Is(err, kv.ErrLocked) {
		return fmt.Errorf("%w; stop the server, or see the admin UI's dashboard (GET /admin/api/dashboard)", err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	loc, _ := time.LoadLocation(cfg.Ledger.Timezone)
	led := ledger.New(ledger.Config{Store: db, Location: loc})
	defer led.Close()
	to := time.Now()
	from := to.AddDate(0, 0, -*days)
	rows, err := led.Top(from, to, *by, 1000)
	if err != nil {
		return err
	}
	return printUsage(stdout, *by, *days, rows)
}

func printUsage(w io.Writer, by string, days int, rows []ledger.Group) error {
	fmt.Fprintf(w, "usage of the last %d days by %s\n\n", days, by)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, by+"\trequests\terrors\trefused\tinput\toutput\tcache write\tcache read\tcharged\tlist price\t")
	var tot ledger.Counts
	for _, g := range rows {
		writeUsageRow(tw, g.Name, g.Counts)
		tot.Add(g.Counts)
	}
	writeUsageRow(tw, "total", tot)
	return tw.Flush()
}

func writeUsageRow(w io.Writer, name string, c ledger.Counts) {
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t$%.2f\t$%.2f\t\n", name, c.Requests, c.Errors, c.Refusals,
		c.InputTokens, c.OutputTokens, c.CacheCreationTokens, c.CacheReadTokens,
		ledger.MicrosToUSD(c.CostMicros), ledger.MicrosToUSD(c.ListMicros))
}

// defaultPricesURL is the filtered mirror of LiteLLM's price table that
// sub2api and claude-relay-service also read (see ledger/data/README.md).
const defaultPricesURL = "https://raw.githubusercontent.com/Wei-Shaw/model-price-repo/main/model_prices_and_context_window.json"

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
