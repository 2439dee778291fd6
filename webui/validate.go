package webui

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// validName is the shape of account and key names created here: they
// appear in URL paths, logs and the ledger.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

var (
	platforms    = []string{"anthropic", "openai", "gemini"}
	accountTypes = []string{"api_key", "oauth", "setup_token"}
)

func checkName(field, name string) error {
	if name == "" {
		return &FieldError{field, "required"}
	}
	if !validName.MatchString(name) {
		return &FieldError{field, "use 1-64 letters, digits and . _ @ + - (starting with a letter or digit)"}
	}
	return nil
}

func checkGroup(g string) error {
	if g != "" && !validName.MatchString(g) {
		return &FieldError{"group", "use letters, digits and . _ @ + -"}
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
		return &FieldError{field, "required, one of " + strings.Join(allowed, ", ")}
	}
	return &FieldError{field, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", "))}
}

func checkGlobs(field string, globs []string) error {
	for _, g := range globs {
		if strings.TrimSpace(g) == "" {
			return &FieldError{field, "empty pattern"}
		}
		if _, err := path.Match(g, ""); err != nil {
			return &FieldError{field, fmt.Sprintf("bad pattern %q", g)}
		}
	}
	return nil
}

// checkURL accepts an absolute URL with one of the schemes.
func checkURL(field, s string, schemes ...string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return &FieldError{field, "want an absolute URL like " + schemes[0] + "://host:port"}
	}
	for _, sc := range schemes {
		if u.Scheme == sc {
			return nil
		}
	}
	return &FieldError{field, "scheme must be one of " + strings.Join(schemes, ", ")}
}

func checkCount(field string, n int) error {
	if n < 0 {
		return &FieldError{field, "must not be negative"}
	}
	return nil
}

func checkUSD(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return &FieldError{field, "must be a non-negative amount in USD"}
	}
	if v > 1e9 {
		return &FieldError{field, "too large"}
	}
	return nil
}

// validateAccount checks an account to add (adding) or new settings.
func validateAccount(a *accountInput, adding bool) error {
	errs := []error{
		checkName("name", a.Name),
		oneOf("platform", a.Platform, platforms),
		oneOf("type", a.Type, accountTypes),
		checkGroup(a.Group),
		checkURL("base_url", a.BaseURL, "https", "http"),
		checkURL("proxy", a.Proxy, "http", "https", "socks5", "socks5h"),
		checkCount("concurrency", a.Concurrency),
		checkCount("priority", a.Priority),
		checkGlobs("models", a.Models),
	}
	for from, to := range a.ModelMap {
		if strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			errs = append(errs, &FieldError{"model_map", "names must not be empty"})
		}
	}
	if adding {
		switch a.Type {
		case "api_key":
			if a.APIKey == "" {
				errs = append(errs, &FieldError{"api_key", "required for an api_key account"})
			}
		case "setup_token":
			if a.AccessToken == "" {
				errs = append(errs, &FieldError{"access_token", "paste the token from `claude setup-token`"})
			}
			if a.Platform != "anthropic" {
				errs = append(errs, &FieldError{"type", "setup_token accounts are Anthropic only"})
			}
		case "oauth":
			errs = append(errs, &FieldError{"type", "add OAuth accounts through /admin/api/oauth/start and finish"})
		}
	}
	return first(errs)
}

// validateKey checks a key to create (creating) or new settings.
func validateKey(k *keyInput, creating bool, now time.Time) error {
	errs := []error{
		checkName("name", k.Name),
		checkGroup(k.Group),
		checkCount("concurrency", k.Concurrency),
		checkCount("rpm", k.RPM),
		checkUSD("limit_5h_usd", k.Limit5hUSD),
		checkUSD("limit_day_usd", k.LimitDayUSD),
		checkUSD("limit_week_usd", k.LimitWeekUSD),
		checkUSD("limit_month_usd", k.LimitMonthUSD),
		checkUSD("quota_usd", k.QuotaUSD),
		checkGlobs("models", k.Models),
	}
	if m := k.RateMultiplier; math.IsNaN(m) || m < 0 || m > 100 {
		errs = append(errs, &FieldError{"rate_multiplier", "must be from 0 to 100 (0 means 1)"})
	}
	if exp := time.Time(k.ExpiresAt); creating && !exp.IsZero() && !exp.After(now) {
		errs = append(errs, &FieldError{"expires_at", "must be in the future"})
	}
	for _, ip := range k.AllowIPs {
		if _, err := netip.ParsePrefix(ip); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			errs = append(errs, &FieldError{"allow_ips", fmt.Sprintf("%q is neither an IP nor a CIDR", ip)})
		}
	}
	return first(errs)
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
