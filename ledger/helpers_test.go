package ledger

import (
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// assertUsage checks the Used figure of the windows in want.
func assertUsage(t *testing.T, l *Ledger, key string, want map[Window]int64) {
	t.Helper()
	for _, u := range l.KeyUsage(key, Limits{}) {
		if w, ok := want[u.Window]; ok && u.Used != w {
			t.Errorf("%s used = %d, want %d", u.Window, u.Used, w)
		}
	}
}
