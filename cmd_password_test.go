package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPassword(t *testing.T) {
	var out bytes.Buffer
	if err := cmdHashPassword(strings.NewReader("correct horse battery\n"), &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password_hash = "(\$2[^"]+)"`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no hash in %q", out.String())
	}
	if err := bcrypt.CompareHashAndPassword([]byte(m[1]), []byte("correct horse battery")); err != nil {
		t.Errorf("hash does not verify: %v", err)
	}
	if strings.Contains(out.String(), "correct horse") {
		t.Errorf("the password was printed")
	}
	if err := cmdHashPassword(strings.NewReader("short\n"), &out); err == nil {
		t.Errorf("a short password was accepted")
	}
	// The hash passes config validation.
	cfg := DefaultConfig()
	cfg.Admin.PasswordHash = m[1]
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}
