package kv

import (
	"errors"
	"time"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("kv: not found")
	// ErrExists means a value conflicts with one already stored.
	ErrExists = errors.New("kv: already exists")
	// ErrLocked means another process holds the database file.
	ErrLocked = errors.New("data dir in use by another subgate")
	// ErrTooNew means the database was written by a newer subgate.
	ErrTooNew = errors.New("database schema is newer than this binary")
	// ErrNoMasterKey means the database holds encrypted credentials and
	// Options.MasterKey is nil.
	ErrNoMasterKey = errors.New("database holds encrypted credentials but no master key is set")
	// ErrWrongMasterKey means Options.MasterKey is not the key the
	// database's credentials are encrypted with.
	ErrWrongMasterKey = errors.New("master key does not match the one the database was encrypted with")
)

// Token is a rotated OAuth credential. It is kept for config accounts too,
// so a restart does not go back to a refresh token that was already used.
type Token struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	IDToken      string    `json:"id_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
	Updated      time.Time `json:"updated"`
	// Seed identifies the config credentials this token descends from, so a
	// new login pasted into the config wins over an older rotation.
	Seed string `json:"seed,omitempty"`
}
