package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"subgate/sched"
)

// TestServerTimeouts: through the lazy connections the server still drops
// a client that stalls mid-request (read timeout) and a keep-alive
// connection left idle (idle timeout).
func TestServerTimeouts(t *testing.T) {
	h := newHarness(t, []Account{apiAccount("a1", "k1")}, func(c *Config, _ *sched.Config) {
		c.ReadTimeout = 200 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	addr := strings.TrimPrefix(h.url, "http://")
	closed := func(t *testing.T, c net.Conn, br *bufio.Reader) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, err := br.ReadByte(); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("server kept the connection open")
				}
				return // io.EOF or reset: closed
			}
		}
	}
	t.Run("stalled request", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
		closed(t, c, bufio.NewReader(c))
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: "+testKey+"\r\nContent-Type: application/json\r\nContent-Length: "+
			strconv.Itoa(len(simpleBody))+"\r\n\r\n"+simpleBody)
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, "200") {
			t.Fatalf("first request: %q %v", line, err)
		}
		// Read the rest of the reply, then stay silent.
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
		}
		closed(t, c, br)
	})
}
