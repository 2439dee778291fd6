//go:build !unix

package edge

import "syscall"

// peerClosed is not available here; failed writes still end requests.
func peerClosed(syscall.RawConn) bool { return false }
