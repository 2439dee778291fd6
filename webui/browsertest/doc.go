// Package browsertest drives headless Chromium for the admin UI's browser
// tests: the webui package's own (its Handler on a loopback port) and
// package main's end-to-end one (the real serve). It is imported by
// _test.go files only.
//
// New skips the test when /usr/bin/chromium is absent, and fails it
// instead when the CI environment variable is set, so that CI cannot pass
// without running the browser. Screenshots go to $SUBGATE_ARTIFACTS, or
// to the test's temp dir.
//
// # Caveats
//
//   - Chromium runs with --no-sandbox (tests run as root in containers).
//   - Each Browser has a fresh profile, removed after Chromium exits.
//   - A page's console errors and uncaught exceptions are collected and
//     reported by NoJSErrors; network errors (a missing favicon, a
//     deliberate 4xx from the API) are not.
package browsertest
