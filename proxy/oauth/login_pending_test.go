package oauth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPendingForgetsAbandoned: a login left for more than 30 minutes is
// dropped at the next start; a finished login is used up.
func TestPendingForgetsAbandoned(t *testing.T) {
	now := time.Now()
	p := &Pending{Now: func() time.Time { return now }}
	f, err := NewFlow(FlowConfig{Platform: "openai", Kind: "oauth", AuthorizeURL: "https://auth.example/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Start(f); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.logins["abandoned"] = pendingLogin{created: now.Add(-31 * time.Minute)}
	p.logins["recent"] = pendingLogin{created: now.Add(-29 * time.Minute)}
	p.mu.Unlock()
	_, state, err := p.Start(f)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	_, abandoned := p.logins["abandoned"]
	_, recent := p.logins["recent"]
	p.mu.Unlock()
	if abandoned || !recent {
		t.Errorf("after a start: abandoned login kept %v, recent kept %v; want false, true", abandoned, recent)
	}
	// A wrong paste uses the login up: finishing it again is unknown.
	if _, err := p.Finish(context.Background(), state, "code#other-state"); err == nil || errors.Is(err, ErrUnknownLogin) {
		t.Fatalf("Finish with another state = %v, want a state mismatch", err)
	}
	if _, err := p.Finish(context.Background(), state, "code#"+state); !errors.Is(err, ErrUnknownLogin) {
		t.Errorf("second Finish = %v, want ErrUnknownLogin", err)
	}
}
