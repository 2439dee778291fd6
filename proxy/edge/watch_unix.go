//go:build unix

package edge

import "syscall"

// peerClosed peeks one byte without consuming it: 0 bytes means the peer
// sent FIN; EAGAIN means the socket is open and idle.
func peerClosed(raw syscall.RawConn) bool {
	var buf [1]byte
	closed := false
	err := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
		case err != nil:
			closed = true
		case n == 0:
			closed = true
		}
		return true
	})
	return closed || err != nil
}
