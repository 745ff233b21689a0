package filter

import (
	"cmp"
	"slices"
)

// groups collects the groups of a summary by key, in order of first
// appearance: failing addresses, kinds of failure, failing sources.
type groups[K comparable, G any] struct {
	byKey map[K]*G
	all   []*G
}

// of returns the group of k, made by mk the first time k is seen.
func (gs *groups[K, G]) of(k K, mk func() *G) *G {
	if g := gs.byKey[k]; g != nil {
		return g
	}
	if gs.byKey == nil {
		gs.byKey = map[K]*G{}
	}
	g := mk()
	gs.byKey[k] = g
	gs.all = append(gs.all, g)
	return g
}

// mostFirst returns the groups by count, most first, ties in order of
// first appearance.
func (gs *groups[K, G]) mostFirst(count func(*G) int64) []*G {
	slices.SortStableFunc(gs.all, func(x, y *G) int { return cmp.Compare(count(y), count(x)) })
	return gs.all
}
