//go:build !race

package proxy

// raceFactor scales memory budgets (see race_on_test.go).
const raceFactor = 1
