package redeem

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
)

// byGroup checks each address, in place in ips (see CheckAddr), and puts
// it in the group group names for it, or refuses it with group's error. It
// reads each group's state once with read, groups in key order, and hands
// it with the index of each address of the group to do. An address
// refused, or whose group could not be read, goes to fail with the error
// instead. Nothing is read for no address.
func byGroup[K cmp.Ordered, S any](ips []netip.Addr, group func(netip.Addr) (K, error), read func(K) (S, error), do func(state S, i int), fail func(i int, err error)) {
	groups := map[K][]int{}
	for i, ip := range ips {
		c, err := CheckAddr(ip)
		var k K
		if err == nil {
			k, err = group(c)
		}
		if err != nil {
			fail(i, err)
			continue
		}
		ips[i] = c
		groups[k] = append(groups[k], i)
	}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		state, err := read(k)
		for _, i := range groups[k] {
			if err != nil {
				fail(i, err)
				continue
			}
			do(state, i)
		}
	}
}

// oneGroup puts every address in the one group of a backend whose state
// is read once for all.
func oneGroup(netip.Addr) (int, error) { return 0, nil }
