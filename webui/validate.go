package webui

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"subgate/kv"
)

// validName is the shape of account and key names created here: they
// appear in URL paths, logs and the ledger.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

func checkName(field, name string) error {
	if name == "" {
		return &FieldError{Field: field, Msg: "required"}
	}
	if !validName.MatchString(name) {
		return &FieldError{Field: field, Msg: "use 1-64 letters, digits and . _ @ + - (starting with a letter or digit)"}
	}
	return nil
}

func checkGroup(g string) error {
	if g != "" && !validName.MatchString(g) {
		return &FieldError{Field: "group", Msg: "use letters, digits and . _ @ + -"}
	}
	return nil
}

func oneOf(field, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	if v == "" {
		return &FieldError{Field: field, Msg: "required, one of " + strings.Join(allowed, ", ")}
	}
	return &FieldError{Field: field, Msg: fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))}
}

// checkAccount checks an account to add (adding), or an account with its
// new settings applied: first the rules of this API (names and groups
// that fit a URL path, a priority from 0, and that a new account is an
// api_key one or Claude's setup_token: OAuth ones come through a login),
// then the model's Validate. Admin checks with it too, so a request that
// raced past the handler's check still meets it.
func checkAccount(a kv.Account, adding bool) error {
	errs := []error{checkName("name", a.Name), checkGroup(a.Group)}
	if a.Priority < 0 {
		errs = append(errs, &FieldError{Field: "priority", Msg: "must not be negative"})
	}
	switch {
	case adding && a.Type == "oauth":
		errs = append(errs, &FieldError{Field: "type", Msg: "add OAuth accounts through /admin/api/oauth/start and finish"})
	case adding && a.Type == "setup_token" && a.Platform != "anthropic":
		errs = append(errs, &FieldError{Field: "type", Msg: "setup_token accounts are Anthropic only"})
	}
	return first(append(errs, modelError(a.Validate())))
}

// checkKey checks a key to create (creating) or a key's new settings: the
// rules of this API (names and groups that fit a URL path, a new key's
// expiry in the future), then the model's Validate.
func checkKey(k kv.Key, creating bool, now time.Time) error {
	errs := []error{checkName("name", k.Name), checkGroup(k.Group)}
	if exp := k.ExpiresAt; creating && !exp.IsZero() && !exp.After(now) {
		errs = append(errs, &FieldError{Field: "expires_at", Msg: "must be in the future"})
	}
	return first(append(errs, modelError(k.Validate())))
}

// modelError is the first problem a model's Validate found, named by its
// JSON field: an entry of a list ("models[2]") is reported on the list.
func modelError(err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if field, index, ok := strings.Cut(fe.Field, "["); ok {
		return &FieldError{Field: field, Msg: "entry " + strings.TrimSuffix(index, "]") + ": " + fe.Msg}
	}
	return fe
}

// first returns the first non-nil error: the API names one field at a
// time, in the order the form shows them.
func first(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// notConfigured answers 501 for an endpoint whose dependency main did
// not wire.
func notConfigured(ctx *fasthttp.RequestCtx, what string) {
	writeError(ctx, fasthttp.StatusNotImplemented, what+" are not available: the gateway was started without them", "")
}
