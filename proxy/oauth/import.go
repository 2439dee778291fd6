package oauth

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"subgate/kv"
)

// importSource is where a provider's CLI keeps its login, under $HOME,
// and what to do when it is missing.
type importSource struct {
	path string
	hint string
	read func(file string, data []byte) (acct kv.Account, plan string, err error)
}

var importSources = map[string]importSource{
	"claude": {filepath.Join(".claude", ".credentials.json"), "log in with Claude Code first", claudeAccount},
	"codex":  {filepath.Join(".codex", "auth.json"), "log in with `codex login` first", codexAccount},
	"gemini": {filepath.Join(".gemini", "oauth_creds.json"),
		"log in with Gemini CLI (`gemini`, Login with Google) first", geminiAccount},
}

// ImportPath returns where cli (claude, codex or gemini) keeps its login,
// relative to the home directory.
func ImportPath(cli string) (string, bool) {
	s, ok := importSources[cli]
	return s.path, ok
}

// ImportFile reads the login that cli (claude, codex or gemini) keeps in
// file into an account with Platform, Type, credentials, ExpiresAt and
// what the file tells about the user; plan is Claude's subscription type
// ("max", "pro") or empty. Name, group and limits are the caller's.
func ImportFile(cli, file string) (acct kv.Account, plan string, err error) {
	s, ok := importSources[cli]
	if !ok {
		return kv.Account{}, "", fmt.Errorf("oauth: unknown CLI %q", cli)
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return kv.Account{}, "", fmt.Errorf("read credentials: %w (%s, or give the file's path)", err, s.hint)
	}
	if err != nil {
		return kv.Account{}, "", fmt.Errorf("read credentials: %w", err)
	}
	return s.read(file, data)
}

// claudeOAuth is the claudeAiOauth object of Claude Code's credentials file.
type claudeOAuth struct {
	AccessToken      string      `json:"accessToken"`
	RefreshToken     string      `json:"refreshToken"`
	ExpiresAt        json.Number `json:"expiresAt"` // ms since the epoch
	Scopes           []string    `json:"scopes"`
	SubscriptionType string      `json:"subscriptionType"`
}

func claudeAccount(file string, data []byte) (kv.Account, string, error) {
	var doc struct {
		ClaudeAiOauth *claudeOAuth `json:"claudeAiOauth"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return kv.Account{}, "", fmt.Errorf("%s: not a Claude Code credentials file: %w", file, err)
	}
	c := doc.ClaudeAiOauth
	switch {
	case c == nil:
		return kv.Account{}, "", fmt.Errorf("%s: no claudeAiOauth login (log in with `claude` first)", file)
	case c.AccessToken == "" && c.RefreshToken == "":
		return kv.Account{}, "", fmt.Errorf("%s: claudeAiOauth has neither accessToken nor refreshToken", file)
	case c.Scopes != nil && !slices.Contains(c.Scopes, "user:inference"):
		// An absent list (older files) is accepted; a list without the scope
		// is a login that cannot call the Messages API.
		return kv.Account{}, "", fmt.Errorf("%s: login lacks the user:inference scope; log in to Claude Code again", file)
	}
	return kv.Account{
		Platform: "anthropic", Type: "oauth",
		AccessToken: c.AccessToken, RefreshToken: c.RefreshToken,
		ExpiresAt: kv.Time{Time: msTime(c.ExpiresAt)},
	}, c.SubscriptionType, nil
}

// msTime converts a ms epoch; 0 or unparsable means unknown (zero time).
func msTime(n json.Number) time.Time {
	ms, err := n.Float64()
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms))
}

// codexAuth is Codex CLI's ~/.codex/auth.json.
type codexAuth struct {
	AuthMode     string `json:"auth_mode"` // chatgpt | apikey; absent in older files
	OpenAIAPIKey string `json:"OPENAI_API_KEY"`
	Tokens       *struct {
		IDToken      string `json:"id_token"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		AccountID    string `json:"account_id"`
	} `json:"tokens"`
}

// codexAccount turns auth.json into an openai account: the ChatGPT login
// when it has tokens (unless the file says it is in API-key mode), else the
// API key.
func codexAccount(file string, data []byte) (kv.Account, string, error) {
	var doc codexAuth
	if err := json.Unmarshal(data, &doc); err != nil {
		return kv.Account{}, "", fmt.Errorf("%s: not a Codex auth file: %w", file, err)
	}
	t := doc.Tokens
	hasTokens := t != nil && (t.AccessToken != "" || t.RefreshToken != "")
	if doc.OpenAIAPIKey != "" && (!hasTokens || strings.EqualFold(doc.AuthMode, "apikey")) {
		return kv.Account{Platform: "openai", Type: "api_key", APIKey: doc.OpenAIAPIKey}, "", nil
	}
	if !hasTokens {
		return kv.Account{}, "", fmt.Errorf("%s: neither a ChatGPT login nor OPENAI_API_KEY (run `codex login` first)", file)
	}
	id, access := ParseJWT(t.IDToken), ParseJWT(t.AccessToken)
	return kv.Account{
		Platform: "openai", Type: "oauth",
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, IDToken: t.IDToken,
		AccountID: cmp.Or(t.AccountID, id.Auth.ChatGPTAccountID, access.Auth.ChatGPTAccountID),
		Email:     id.Email,
		ExpiresAt: kv.Time{Time: access.Expiry()},
	}, "", nil
}

// geminiCreds is Gemini CLI's ~/.gemini/oauth_creds.json (google-auth-library
// credentials).
type geminiCreds struct {
	AccessToken  string      `json:"access_token"`
	RefreshToken string      `json:"refresh_token"`
	IDToken      string      `json:"id_token"`
	ExpiryDate   json.Number `json:"expiry_date"` // ms since the epoch
	TokenType    string      `json:"token_type"`
	Scope        string      `json:"scope"`
}

func geminiAccount(file string, data []byte) (kv.Account, string, error) {
	var c geminiCreds
	if err := json.Unmarshal(data, &c); err != nil {
		return kv.Account{}, "", fmt.Errorf("%s: not a Gemini CLI credentials file: %w", file, err)
	}
	switch {
	case c.AccessToken == "" && c.RefreshToken == "":
		return kv.Account{}, "", fmt.Errorf("%s: neither access_token nor refresh_token (log in with `gemini` first)", file)
	case c.Scope != "" && !strings.Contains(c.Scope, "/auth/cloud-platform"):
		// Code Assist needs cloud-platform; an absent scope is accepted.
		return kv.Account{}, "", fmt.Errorf("%s: login lacks the cloud-platform scope; log in to Gemini CLI again", file)
	}
	return kv.Account{
		Platform: "gemini", Type: "oauth",
		AccessToken: c.AccessToken, RefreshToken: c.RefreshToken,
		Email:     ParseJWT(c.IDToken).Email,
		ExpiresAt: kv.Time{Time: msTime(c.ExpiryDate)},
	}, "", nil
}
