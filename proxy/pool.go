package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path"
	"sync/atomic"
	"time"

	"subgate/ledger"
	"subgate/proxy/oauth"
	"subgate/sched"
)

// Key is a client key's policy. The secret itself is never kept, only its
// SHA-256.
type Key struct {
	Name        string
	Hash        [32]byte
	Group       string
	Concurrency int
	// Limits are the key's budgets, RPM and rate multiplier.
	Limits    ledger.Limits
	ExpiresAt time.Time // zero: never
	Disabled  bool
	// Models is an allow-list of globs over the requested model.
	Models []string
	// AllowIPs limits the client addresses; empty allows all.
	AllowIPs []netip.Prefix
	// InterceptWarmup answers Claude Code's probes locally.
	InterceptWarmup bool
	// Translate lets the key's requests be served by accounts of another
	// API family, translated (docs/translation.md). In the server's pool
	// it is the key's flag and its group's (Config.Groups) together.
	Translate bool
}

// Group holds the settings of a group of accounts and keys.
type Group struct {
	// Translate lets the group's keys use accounts of another API family;
	// a group not listed in Config.Groups allows it.
	Translate bool
}

// allowsModel reports whether the key may request model.
func (k *Key) allowsModel(model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, g := range k.Models {
		if ok, _ := path.Match(g, model); ok {
			return true
		}
	}
	return false
}

// allowsIP reports whether the key may be used from ip.
func (k *Key) allowsIP(ip netip.Addr) bool {
	if len(k.AllowIPs) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range k.AllowIPs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// HashKey returns the SHA-256 of a client key secret.
func HashKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// ParseKeyHash decodes a hex SHA-256 as written in the config's key_sha256.
func ParseKeyHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("key hash must be 64 hex characters")
	}
	copy(h[:], b)
	return h, nil
}

// pool is an immutable view of accounts and keys, swapped atomically when
// the admin changes either.
type pool struct {
	accounts map[string]*Account
	keys     map[[32]byte]*Key
}

type poolRef struct{ p atomic.Pointer[pool] }

func (r *poolRef) load() *pool { return r.p.Load() }

// newPool indexes accounts and keys; a key's Translate becomes false when
// its group forbids translation.
func newPool(accounts []Account, keys []Key, groups map[string]Group) *pool {
	p := &pool{accounts: make(map[string]*Account, len(accounts)), keys: make(map[[32]byte]*Key, len(keys))}
	for i := range accounts {
		a := accounts[i]
		p.accounts[a.Name] = &a
	}
	for i := range keys {
		k := keys[i]
		if g, ok := groups[k.Group]; ok && !g.Translate {
			k.Translate = false
		}
		p.keys[k.Hash] = &k
	}
	return p
}

// lookupKey finds the key whose secret hashes to h. The map finds the
// candidate; the constant-time compare keeps the final check free of
// early-exit timing.
func (p *pool) lookupKey(secret []byte) *Key {
	h := sha256.Sum256(secret)
	k, ok := p.keys[h]
	if !ok || subtle.ConstantTimeCompare(k.Hash[:], h[:]) != 1 {
		return nil
	}
	return k
}

func schedAccounts(accounts []Account) []sched.Account {
	out := make([]sched.Account, len(accounts))
	for i := range accounts {
		out[i] = accounts[i].Account
	}
	return out
}

// codexAccountID is the chatgpt-account-id of a Codex account: configured,
// or the claim in its id_token.
func (s *Server) codexAccountID(a *Account) string {
	if a.AccountID != "" {
		return a.AccountID
	}
	return oauth.ParseJWT(s.tokens.IDToken(a)).Auth.ChatGPTAccountID
}
