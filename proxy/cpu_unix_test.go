//go:build unix

package proxy

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time the process has used,
// so benchmarks can report CPU per operation, writer goroutine included.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
