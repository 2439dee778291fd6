package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Identity is one upstream account's client identity, generated once and
// persisted through a Store. Only DeviceID, AccountUUID and
// InstallationID ever leave subgate (in requests to the provider); Salt
// never does.
type Identity struct {
	// DeviceID is the Claude Code device id: 64 lowercase hex digits, what
	// Claude Code keeps in ~/.claude.json as userID.
	DeviceID string `json:"device_id"`
	// AccountUUID is the OAuth account's uuid when known (the token
	// endpoint's account.uuid); empty otherwise, as Claude Code sends it
	// when it does not know the account.
	AccountUUID string `json:"account_uuid,omitempty"`
	// Salt keys the derivation of upstream session ids from client ones:
	// 64 hex digits. A secret: whoever knows it can link an upstream
	// session to the client's.
	Salt string `json:"salt"`
	// InstallationID is the Codex installation id: a UUID, what Codex
	// keeps in $CODEX_HOME/installation_id.
	InstallationID string `json:"installation_id"`
	// Claude and Codex are the learned header profiles; nil until a
	// genuine client was seen on this account.
	Claude *Profile `json:"claude,omitempty"`
	Codex  *Profile `json:"codex,omitempty"`
	// Created is when the identity was generated.
	Created time.Time `json:"created"`
}

// Validate checks the generated fields' shapes, so a damaged stored value
// is noticed instead of sent upstream.
func (id Identity) Validate() error {
	var errs []error
	if !isHex(id.DeviceID, 64) {
		errs = append(errs, errors.New("device_id: not 64 hex digits"))
	}
	if !isHex(id.Salt, 64) {
		errs = append(errs, errors.New("salt: not 64 hex digits"))
	}
	if !IsUUID(id.InstallationID) {
		errs = append(errs, errors.New("installation_id: not a UUID"))
	}
	if id.AccountUUID != "" && !IsUUID(id.AccountUUID) {
		errs = append(errs, errors.New("account_uuid: not a UUID"))
	}
	return errors.Join(errs...)
}

// generate makes a fresh identity from r (crypto/rand in production).
func generate(r io.Reader, accountUUID string, now time.Time) (Identity, error) {
	var b [32 + 32 + 16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Identity{}, fmt.Errorf("identity: random: %w", err)
	}
	inst := b[64:80]
	inst[6] = inst[6]&0x0f | 0x40 // version 4
	inst[8] = inst[8]&0x3f | 0x80 // RFC 4122 variant
	return Identity{
		DeviceID:       hex.EncodeToString(b[:32]),
		AccountUUID:    accountUUID,
		Salt:           hex.EncodeToString(b[32:64]),
		InstallationID: formatUUID(inst),
		Created:        now,
	}, nil
}

// formatUUID writes 16 bytes as 8-4-4-4-12 lowercase hex.
func formatUUID(b []byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// IsUUID reports whether s is 8-4-4-4-12 hex digits.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// defaultRand is where identities come from outside tests.
var defaultRand io.Reader = rand.Reader
