package kv

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"subgate/sched"

	"go.etcd.io/bbolt"
)

func openTest(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil {
			t.Error(err)
		}
		_ = db.Close()
	})
	return db
}

func TestStateChanges(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "subgate.db"))
	empty, err := db.LoadState()
	if err != nil || len(empty.Health) != 0 || len(empty.Bindings) != 0 {
		t.Fatalf("LoadState on a new db = %+v, %v; want empty", empty, err)
	}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	a := sched.Health{State: sched.StateRateLimited, Until: t0, Reason: "429", Failures: 2, LastUsed: t0,
		Windows:  []sched.Window{{Name: "7d", Utilization: 0.5, ResetAt: t0, Scope: "opus"}},
		Families: []sched.FamilyHealth{{Family: "opus", State: sched.StateRateLimited, Until: t0, Reason: "weekly"}}}
	b := sched.Health{State: sched.StateDisabled}
	bind := func(group, session, acct string) sched.Binding {
		return sched.Binding{Group: group, Session: session, Account: acct, Key: "k", Created: t0, Expires: t0.Add(time.Hour)}
	}
	// Groups and sessions whose concatenations meet must stay apart.
	b1, b2, b3 := bind("g", "s1", "a"), bind("gs", "1", "b"), bind("g", "s2", "a")
	steps := []struct {
		c    sched.Changes
		want sched.Snapshot
	}{
		{sched.Changes{Health: map[string]sched.Health{"a": a, "b": b}, Bindings: []sched.Binding{b1, b2, b3}},
			sched.Snapshot{Health: map[string]sched.Health{"a": a, "b": b}, Bindings: []sched.Binding{b1, b3, b2}}},
		{sched.Changes{Forget: []string{"b"}, Unbound: []sched.BindingRef{{Group: "g", Session: "s1"}}},
			sched.Snapshot{Health: map[string]sched.Health{"a": a}, Bindings: []sched.Binding{b3, b2}}},
		{sched.Changes{Bindings: []sched.Binding{bind("g", "s2", "c")}},
			sched.Snapshot{Health: map[string]sched.Health{"a": a}, Bindings: []sched.Binding{bind("g", "s2", "c"), b2}}},
	}
	for i, st := range steps {
		if err := db.SaveChanges(st.c); err != nil {
			t.Fatal(err)
		}
		got, err := db.LoadState()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Fatalf("step %d: LoadState = %+v, want %+v", i, got, st.want)
		}
	}
}

// TestStateLegacySnapshot opens a state stored whole, as older subgates
// wrote it: LoadState returns it, moves it to records once, and the
// scheduler finds its raw session ids under their hashes.
func TestStateLegacySnapshot(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "subgate.db"))
	now := time.Now().UTC().Truncate(time.Second)
	old := sched.Snapshot{
		Health:   map[string]sched.Health{"a": {State: sched.StateError, Reason: "revoked"}},
		Bindings: []sched.Binding{{Group: "g", Session: "cc:abc", Account: "b", Created: now, Expires: now.Add(time.Hour)}},
	}
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		return putValue(tx.Bucket(bucketState), legacyStateKey, &stateValue{V: valueVersion, Snapshot: old}, "state")
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := db.LoadState()
		if err != nil || !reflect.DeepEqual(got, old) {
			t.Fatalf("LoadState = %+v, %v; want %+v", got, err, old)
		}
	}
	_ = db.bolt.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketState).Get([]byte(legacyStateKey)) != nil {
			t.Error("the old snapshot key is still there")
		}
		return nil
	})
	s, err := sched.New(sched.Config{Store: db, Accounts: []sched.Account{
		{Name: "a", Platform: "anthropic", Group: "g"}, {Name: "b", Platform: "anthropic", Group: "g"}}})
	if err != nil {
		t.Fatal(err)
	}
	if bs := s.Sessions(); len(bs) != 1 || bs[0].Session != sched.SessionID("cc:abc") || bs[0].Account != "b" {
		t.Fatalf("Sessions = %+v, want cc:abc hashed, on b", bs)
	}
	runOnce(s)
	got, err := db.LoadState()
	if err != nil || len(got.Bindings) != 1 || got.Bindings[0].Session != sched.SessionID("cc:abc") {
		t.Fatalf("after a save: %+v, %v; want only the hashed binding", got.Bindings, err)
	}
}

// runOnce lets s's Run save what changed and return.
func runOnce(s *sched.Scheduler) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Run(ctx)
}

// countingStore records what each save asked for.
type countingStore struct {
	*DB
	mu    sync.Mutex
	saves []sched.Changes
}

func (c *countingStore) SaveChanges(ch sched.Changes) error {
	c.mu.Lock()
	c.saves = append(c.saves, ch)
	c.mu.Unlock()
	return c.DB.SaveChanges(ch)
}

// TestStateSaveTouchesChangesOnly keeps 10,000 bindings in kv, moves one,
// and checks that the save wrote that one record (a few pages, where the
// whole table is hundreds), and that a restart restores every binding.
func TestStateSaveTouchesChangesOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgate.db")
	db := openTest(t, path)
	cs := &countingStore{DB: db}
	pool := []sched.Account{{Name: "a", Platform: "anthropic", Group: "g"}, {Name: "b", Platform: "anthropic", Group: "g"}}
	s, err := sched.New(sched.Config{Store: cs, Accounts: pool})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		s.BindKey("g", fmt.Sprint("session-", i), "a", "k")
	}
	runOnce(s)
	writes := func() int64 { st := db.bolt.Stats(); return st.TxStats.GetWrite() }
	full := writes()
	s.BindKey("g", "session-42", "b", "k")
	runOnce(s)
	one := writes() - full
	last := cs.saves[len(cs.saves)-1]
	if len(last.Bindings) != 1 || len(last.Unbound)+len(last.Health)+len(last.Forget) != 0 {
		t.Fatalf("the second save carried %d bindings, %d unbound, %d health, %d forget; want 1 binding",
			len(last.Bindings), len(last.Unbound), len(last.Health), len(last.Forget))
	}
	t.Logf("page writes: %d for 10,000 bindings, %d for one", full, one)
	if one*20 > full {
		t.Fatalf("moving one binding wrote %d pages, saving 10,000 wrote %d", one, full)
	}

	s2, err := sched.New(sched.Config{Store: db, Accounts: pool})
	if err != nil {
		t.Fatal(err)
	}
	bs := s2.Sessions()
	if len(bs) != 10_000 {
		t.Fatalf("restored %d bindings, want 10000", len(bs))
	}
	for _, b := range bs {
		want := "a"
		if b.Session == sched.SessionID("session-42") {
			want = "b"
		}
		if b.Account != want || b.Key != "k" {
			t.Fatalf("restored %+v, want account %s", b, want)
		}
	}
}
