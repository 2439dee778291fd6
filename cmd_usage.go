package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
