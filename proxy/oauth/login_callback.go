package oauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Redirect is a browser's redirect the Callback listener caught.
type Redirect struct {
	URL   string       // the redirected URL, as Flow.Finish parses it
	Reply chan<- error // the login's outcome, told to the browser
}

// Callback listens on a loopback redirect URL (the Codex login's
// http://localhost:1455/auth/callback) for the one redirect that carries
// a login's state. Redirects with another state are answered 400 and do
// not end the login.
type Callback struct {
	srv   *http.Server
	base  string
	state string
	got   chan Redirect
	stop  chan struct{}
}

// ListenCallback listens on the host and port of redirect, which must be
// a plain-http loopback URL, for the redirect of the login of state.
func ListenCallback(redirect, state string) (*Callback, error) {
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("redirect URL %q is not a plain-http loopback URL", redirect)
	}
	host, port := u.Hostname(), u.Port()
	switch {
	case port == "":
		port = "80"
	case host == "localhost":
		host = "127.0.0.1" // where browsers try localhost; Codex CLI listens there too
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("redirect URL %q is not a loopback URL", redirect)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("listen for the browser: %w", err)
	}
	c := &Callback{
		base: u.Scheme + "://" + u.Host + u.EscapedPath(), state: state,
		got: make(chan Redirect), stop: make(chan struct{}),
	}
	route := u.EscapedPath()
	if route == "" {
		route = "/"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+route, c.serve)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go c.srv.Serve(ln) // ends with Close
	return c, nil
}

// Redirects delivers the redirect of this login; the receiver answers
// on its Reply.
func (c *Callback) Redirects() <-chan Redirect { return c.got }

func (c *Callback) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("state") != c.state {
		// Not this login's redirect (a stale tab, another process): it
		// must not end the login.
		http.Error(w, "State mismatch: subgate is not waiting for this login.", http.StatusBadRequest)
		return
	}
	reply := make(chan error, 1)
	select {
	case c.got <- Redirect{URL: c.base + "?" + r.URL.RawQuery, Reply: reply}:
	case <-c.stop:
		http.Error(w, "subgate is no longer waiting for this login.", http.StatusGone)
		return
	case <-r.Context().Done():
		return
	}
	select {
	case err := <-reply:
		if err != nil {
			http.Error(w, "Login failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "Signed in. subgate is storing the account; you can close this tab.")
	case <-r.Context().Done():
	}
}

// Close stops the listener and waits briefly for a reply in flight.
func (c *Callback) Close() {
	close(c.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c.srv.Shutdown(ctx) != nil {
		c.srv.Close()
	}
}
