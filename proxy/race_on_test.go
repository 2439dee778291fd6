//go:build race

package proxy

// raceFactor scales memory budgets: the race detector's shadow memory and
// larger stacks multiply what each goroutine and buffer costs.
const raceFactor = 4
