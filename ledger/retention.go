package ledger

import (
	"context"
	"fmt"
	"time"
)

const (
	// pruneChunk is how many records one DeleteBefore transaction removes
	// at most, so pruning months of records never holds the single bbolt
	// writer long enough to stall the ledger's group commits.
	pruneChunk = 2048
	// pruneEvery is how often Run prunes.
	pruneEvery = time.Hour
)

// Prune deletes raw records with Time before before, in chunks of at
// most pruneChunk records per store transaction, and returns how many it
// deleted. Rollups are kept, so dashboards and budgets are unaffected.
func (l *Ledger) Prune(before time.Time) (int, error) {
	return l.prune(context.Background(), before)
}

func (l *Ledger) prune(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n, err := l.store.DeleteBefore(before, pruneChunk)
		total += n
		if err != nil {
			return total, fmt.Errorf("ledger prune: %w", err)
		}
		if n < pruneChunk {
			break
		}
	}
	return total, nil
}

// pruneLoop prunes records older than the retention period at once and
// then every pruneEvery until ctx is done.
func (l *Ledger) pruneLoop(ctx context.Context) {
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		before := l.now().Add(-l.retention)
		n, err := l.prune(ctx, before)
		switch {
		case err != nil:
			l.log.Error("ledger prune failed", "deleted", n, "err", err)
		case n > 0:
			l.log.Info("ledger pruned old records", "deleted", n, "before", before)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
