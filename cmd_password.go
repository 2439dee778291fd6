package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// cmdHashPassword reads a password from stdin (one line) and prints the
// bcrypt hash to put in [admin] password_hash. The password itself is
// never stored or printed.
func cmdHashPassword(stdin io.Reader, stdout io.Writer) error {
	fmt.Fprintln(stdout, "password for the admin UI (one line on stdin):")
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 12 {
		return usageError("use at least 12 characters")
	}
	if len(pw) > 72 {
		return usageError("bcrypt takes at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 12)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n[admin]\npassword_hash = %q\n", h)
	return nil
}
