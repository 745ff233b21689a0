// Package tally holds what counting code shares: an addition of counts
// that saturates instead of wrapping, the top n keys of a ranking, and
// the default of a bound left unset.
package tally

import (
	"cmp"
	"slices"
)

// Add returns a + b for counts in [0, limit], or limit when the sum would
// pass it (a hostile report's counts must not wrap to a negative total).
func Add(a, b, limit int64) int64 {
	if a > limit-b {
		return limit
	}
	return a + b
}

// Top returns the set of the n keys of m that rank first: rank(a, b) < 0
// when value a ranks before value b; keys of equal rank are taken in
// their order, so that the choice does not depend on map order.
func Top[K cmp.Ordered, V any](m map[K]V, n int, rank func(a, b V) int) map[K]bool {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int {
		if c := rank(m[a], m[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	top := make(map[K]bool, min(n, len(keys)))
	for _, k := range keys[:min(n, len(keys))] {
		top[k] = true
	}
	return top
}

// OrDefault returns limit, or def when limit is zero or negative: the
// value of a bound whose zero value means its default.
func OrDefault[T ~int | ~int64](limit, def T) T {
	if limit <= 0 {
		return def
	}
	return limit
}
