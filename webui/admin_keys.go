package webui

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"subgate/kv"
)

// Keys returns the Admin's Keys, whose method names clash with Accounts'.
func (a *Admin) Keys() Keys { return adminKeys{a} }

type adminKeys struct{ a *Admin }

var _ Keys = adminKeys{}

func (a *Admin) keyFromConfig(name string) bool {
	return slices.ContainsFunc(a.cfg.Keys, func(k kv.Key) bool { return k.Name == name })
}

// List implements Keys: the config's keys, then the stored ones, each
// with its spend. With the store failing, the config's alone.
func (k adminKeys) List() []KeyInfo {
	a := k.a
	out := make([]KeyInfo, 0, len(a.cfg.Keys))
	for _, key := range a.cfg.Keys {
		key.FromConfig = true
		out = append(out, a.keyInfo(key))
	}
	stored, err := a.cfg.Store.Keys()
	if err != nil {
		a.cfg.Logger.Error("list keys", "err", err)
	}
	for _, key := range stored {
		if !a.keyFromConfig(key.Name) {
			out = append(out, a.keyInfo(key))
		}
	}
	return out
}

func (a *Admin) keyInfo(k kv.Key) KeyInfo {
	info := KeyInfo{Key: k}
	if a.cfg.Usage != nil {
		info.Windows = a.cfg.Usage.KeyUsage(k.Name, k.Limits())
	}
	return info
}

// Create implements Keys.
func (k adminKeys) Create(ctx context.Context, n kv.Key) (string, error) {
	a := k.a
	if err := checkKey(n, true, a.cfg.Now()); err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.cfg.Store.GetKey(n.Name); err == nil || a.keyFromConfig(n.Name) {
		return "", fmt.Errorf("key %q: %w", n.Name, ErrExists)
	}
	secret, err := kv.NewSecret()
	if err != nil {
		return "", err
	}
	key := kv.Key{Name: n.Name, Hash: kv.HashSecret(secret)}
	applyKey(&key, n)
	if err := a.cfg.Store.PutKey(key); err != nil {
		return "", err
	}
	a.cfg.Logger.Info("key created", "key", n.Name, "group", key.Group)
	return secret, a.reload()
}

// Update implements Keys.
func (k adminKeys) Update(ctx context.Context, name string, n kv.Key) error {
	a := k.a
	if a.keyFromConfig(name) {
		return ErrReadOnly
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	key, err := a.cfg.Store.GetKey(name)
	if errors.Is(err, kv.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	applyKey(&key, n)
	if err := checkKey(key, false, a.cfg.Now()); err != nil {
		return err
	}
	if err := a.cfg.Store.PutKey(key); err != nil {
		return err
	}
	return a.reload()
}

// Delete implements Keys.
func (k adminKeys) Delete(ctx context.Context, name string) error {
	a := k.a
	if a.keyFromConfig(name) {
		return ErrReadOnly
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.cfg.Store.DeleteKey(name); errors.Is(err, kv.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	a.cfg.Logger.Info("key deleted", "key", name)
	return a.reload()
}
