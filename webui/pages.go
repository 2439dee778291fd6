package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

//go:embed assets
var assetFS embed.FS

// pageNames maps a page's path (without a trailing slash) to its template.
var pageNames = map[string]string{
	"/admin":              "dashboard",
	"/admin/accounts":     "accounts",
	"/admin/accounts/new": "account_new",
	"/admin/keys":         "keys",
	"/admin/usage":        "usage",
	"/admin/sessions":     "sessions",
	"/admin/rules":        "rules",
}

// pageTitles are the navigation labels, in order.
var pageTitles = []struct{ Name, Path, Title string }{
	{"dashboard", "/admin/", "Dashboard"},
	{"accounts", "/admin/accounts", "Accounts"},
	{"keys", "/admin/keys", "Keys"},
	{"usage", "/admin/usage", "Usage"},
	{"sessions", "/admin/sessions", "Sessions"},
	{"rules", "/admin/rules", "Error rules"},
}

// pageData is what every page template sees.
type pageData struct {
	Name, Title string
	Active      string // the navigation entry to highlight
	CSRF        string // empty for the login page and bearer-token visitors
	Error, Next string // login page
	Version     string // asset version, for cache busting
	Nav         any
}

// pages holds the parsed templates and the static assets.
type pages struct {
	tmpl    map[string]*template.Template
	files   map[string][]byte
	version string
}

// mustPages parses the embedded templates; a parse error is a build bug
// that every test catches.
func mustPages() *pages {
	p := &pages{tmpl: make(map[string]*template.Template), files: make(map[string][]byte)}
	sum := sha256.New()
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		if path.Ext(e.Name()) != ".html" {
			p.files[e.Name()] = b
			sum.Write(b)
		}
	}
	p.version = hex.EncodeToString(sum.Sum(nil))[:12]
	for _, name := range append(mapValues(pageNames), "login") {
		p.tmpl[name] = template.Must(template.ParseFS(assetFS, "assets/layout.html", "assets/"+name+".html"))
	}
	return p
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// render executes page name into the response.
func (p *pages) render(ctx *fasthttp.RequestCtx, name string, d pageData) {
	d.Name, d.Version, d.Nav = name, p.version, pageTitles
	for _, t := range pageTitles {
		if t.Name == name {
			d.Title = t.Title
		}
	}
	d.Active = name
	if name == "login" {
		d.Title = "Sign in"
	}
	if name == "account_new" {
		d.Title, d.Active = "Add account", "accounts"
	}
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		ctx.SetBodyString("template error: " + err.Error())
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(buf.Bytes())
}

var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// static serves an embedded asset. Links carry ?v=version, so a matching
// request may be cached for good.
func (p *pages) static(ctx *fasthttp.RequestCtx, name string) {
	b, ok := p.files[name]
	if !ok || strings.Contains(name, "/") {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	if string(ctx.QueryArgs().Peek("v")) == p.version {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		ctx.Response.Header.Set("Cache-Control", "no-cache")
	}
	ctx.SetContentType(contentTypes[path.Ext(name)])
	ctx.SetBody(b)
}
