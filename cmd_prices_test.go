package main

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"subgate/ledger"
	"subgate/proxy/upstreamtest"
)

// testTable prices claude-sonnet-4-5 at $9/$45 per Mtok, unlike the
// embedded table, so a test can tell which table is in use.
const testTable = `{
  "claude-sonnet-4-5": {"input_cost_per_token": 9e-06, "output_cost_per_token": 4.5e-05},
  "gpt-5": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05},
  "gemini-2.5-pro": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05}
}`

// tableServer serves body with status on a loopback port.
func tableServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/model_prices_and_context_window.json"
}

func sonnetInput(t *testing.T, table *ledger.Table) int64 {
	t.Helper()
	p, ok := ledger.NewPricing(table, nil).Lookup("claude-sonnet-4-5")
	if !ok {
		t.Fatal("claude-sonnet-4-5 has no price")
	}
	return p.Input
}

func TestPricesUpdate(t *testing.T) {
	cfgPath, cfg := dataConfig(t, "")
	url := tableServer(t, http.StatusOK, testTable)
	out, err := runCmd(t, "prices", "update", url, "-c", cfgPath)
	if err != nil {
		t.Fatalf("prices update: %v\n%s", err, out)
	}
	path := filepath.Join(cfg.Server.DataDir, priceTableFile)
	if !strings.Contains(out, "wrote 3 model prices to "+path) {
		t.Errorf("output = %q", out)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(testTable)) {
		t.Errorf("file holds %q, want the served table", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(cfg.Server.DataDir, ".*.tmp")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	// The server's start-up loading prefers it over the embedded table.
	var logs bytes.Buffer
	table := loadPriceTable(cfg.Server.DataDir, slog.New(slog.NewTextHandler(&logs, nil)))
	if got, want := sonnetInput(t, table), int64(9_000_000); got != want {
		t.Errorf("loaded sonnet input = %d, want %d (the downloaded table)", got, want)
	}
	if !strings.Contains(logs.String(), "source="+path) {
		t.Errorf("load not logged with its source:\n%s", logs.String())
	}
}

func TestPricesUpdateRejects(t *testing.T) {
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		wantErr string
	}{
		{"server error", func(t *testing.T) string { return tableServer(t, 500, testTable) }, "500"},
		{"not json", func(t *testing.T) string { return tableServer(t, 200, "<html>rate limited</html>") }, "price table"},
		{"no gemini rows", func(t *testing.T) string {
			return tableServer(t, 200, `{"claude-a-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
				"gpt-a-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}`)
		}, "no gemini-* model"},
		{"not http", func(*testing.T) string { return "file:///etc/passwd" }, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgPath, cfg := dataConfig(t, "")
			path := filepath.Join(cfg.Server.DataDir, priceTableFile)
			if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(testTable), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := runCmd(t, "prices", "update", tt.url(t), "-c", cfgPath)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, []byte(testTable)) {
				t.Errorf("a rejected download replaced the table: %q", got)
			}
		})
	}
}

func TestPricesUsage(t *testing.T) {
	cfgPath, _ := dataConfig(t, "")
	for _, args := range [][]string{{"prices"}, {"prices", "show"}, {"prices", "update", "a", "b"}} {
		if _, err := runCmd(t, append(args, "-c", cfgPath)...); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

func TestLoadPriceTableFallsBack(t *testing.T) {
	embedded := sonnetInput(t, ledger.EmbeddedTable())
	tests := []struct {
		name    string
		file    string // "" means no file
		wantLog string
	}{
		{"absent", "", "source=embedded"},
		{"invalid", `{"claude-a-1": {}}`, "unusable"},
		{"not json", "{", "unusable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(dir, priceTableFile), []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			table := loadPriceTable(dir, slog.New(slog.NewTextHandler(&logs, nil)))
			if got := sonnetInput(t, table); got != embedded {
				t.Errorf("sonnet input = %d, want the embedded %d", got, embedded)
			}
			if !strings.Contains(logs.String(), tt.wantLog) || !strings.Contains(logs.String(), "source=embedded") {
				t.Errorf("logs lack %q and source=embedded:\n%s", tt.wantLog, logs.String())
			}
		})
	}
}

// TestServeUsesDownloadedPrices drives the binary: a table fetched by
// `prices update` prices the requests of the next start, and [ledger]
// unpriced decides what a key with a spend limit gets for a model the
// table lacks.
func TestServeUsesDownloadedPrices(t *testing.T) {
	up := upstreamtest.New(upstreamtest.Config{})
	if _, err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	unpriced := `{"model":"claude-mystery-1","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		ledger     string
		wantStatus int
	}{
		{"refuse by default", "", 403},
		{"allow", "[ledger]\nunpriced = \"allow\"", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, addr := t.TempDir(), freeAddr(t)
			cfgPath := writeServeConfig(t, dir, addr, up.URL(), serveOpts{extra: "limit_day_usd = 5.0\n" + tt.ledger})
			if out, err := runCmd(t, "prices", "update", tableServer(t, http.StatusOK, testTable), "-c", cfgPath); err != nil {
				t.Fatalf("prices update: %v\n%s", err, out)
			}
			in := startInstance(t, cfgPath, addr)
			if resp, body := in.message(serveKey, serveBody); resp.StatusCode != 200 {
				t.Fatalf("priced model: status %d %s", resp.StatusCode, body)
			}
			resp, body := in.message(serveKey, unpriced)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("unpriced model: status %d, want %d; %s", resp.StatusCode, tt.wantStatus, body)
			}
			// 25 input × $9 + 10 output × $45 per Mtok (the downloaded
			// table; the embedded one would make it $0.000225).
			var cost float64
			deadline := time.Now().Add(10 * time.Second)
			for cost == 0 && time.Now().Before(deadline) {
				_, usage := in.admin("GET", "/admin/api/usage?limit=10", "")
				cost = gjson.GetBytes(usage, `records.#(model=="claude-sonnet-4-5").cost_usd`).Float()
				time.Sleep(10 * time.Millisecond)
			}
			if cost != 0.000675 {
				t.Errorf("cost of the priced request = %v USD, want 0.000675", cost)
			}
			if !strings.Contains(in.out.String(), filepath.Join(dir, "data", priceTableFile)) {
				t.Errorf("the start did not log the table it uses:\n%s", in.out.String())
			}
		})
	}
}
