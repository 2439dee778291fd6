package oauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"subgate/kv"
)

// PendingTTL is how long a started login waits for its finish.
const PendingTTL = 30 * time.Minute

// ErrUnknownLogin means no started login has that state: it was never
// started here, already finished, or abandoned past PendingTTL.
var ErrUnknownLogin = errors.New("unknown or expired login; start again")

// Pending keeps the logins started and not yet finished, by state, so
// that a finish arriving later (the web UI's second request) finds its
// flow and PKCE verifier. A login left longer than PendingTTL is dropped
// at the next Start. The zero Pending is ready to use.
type Pending struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	logins map[string]pendingLogin
}

type pendingLogin struct {
	flow     *Flow
	verifier string
	created  time.Time
}

func (p *Pending) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Start begins a login on f and returns the URL to open and its state.
func (p *Pending) Start(f *Flow) (authURL, state string, err error) {
	authURL, state, verifier, err := f.Start()
	if err != nil {
		return "", "", err
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logins == nil {
		p.logins = make(map[string]pendingLogin)
	}
	for s, l := range p.logins { // forget abandoned logins
		if now.Sub(l.created) > PendingTTL {
			delete(p.logins, s)
		}
	}
	p.logins[state] = pendingLogin{flow: f, verifier: verifier, created: now}
	return authURL, state, nil
}

// Finish completes the login of state with what the user pasted (see
// Flow.Finish). The login is used up either way: a failed exchange
// starts again. An unknown state is ErrUnknownLogin.
func (p *Pending) Finish(ctx context.Context, state, pasted string) (kv.Account, error) {
	p.mu.Lock()
	l, ok := p.logins[state]
	delete(p.logins, state)
	p.mu.Unlock()
	if !ok {
		return kv.Account{}, ErrUnknownLogin
	}
	return l.flow.Finish(ctx, pasted, state, l.verifier)
}
