package redeem

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
)

// TestByGroup: each group's state is read once, in key order; an invalid
// address, one its group refuses, and those of a group that could not be
// read go to fail; nothing is read when no address is left.
func TestByGroup(t *testing.T) {
	ips := addrs("2001:db8::1", "::ffff:192.0.2.1", "192.0.2.9", "2001:db8::2")
	ips = append(ips, netip.Addr{})
	refused, unread := errors.New("refused"), errors.New("unread")
	group := func(ip netip.Addr) (int, error) {
		switch {
		case ip == netip.MustParseAddr("192.0.2.9"):
			return 0, refused
		case ip.Is6():
			return 6, nil
		}
		return 4, nil
	}
	var reads []int
	read := func(k int) (string, error) {
		reads = append(reads, k)
		if k == 6 {
			return "", unread
		}
		return fmt.Sprintf("family %d", k), nil
	}
	done := map[int]string{}
	failed := map[int]error{}
	byGroup(ips, group, read, func(s string, i int) { done[i] = s + " " + ips[i].String() },
		func(i int, err error) { failed[i] = err })
	if !slices.Equal(reads, []int{4, 6}) {
		t.Errorf("reads %v, want [4 6]", reads)
	}
	if !maps.Equal(done, map[int]string{1: "family 4 192.0.2.1"}) {
		t.Errorf("done %v", done)
	}
	if len(failed) != 4 || failed[2] != refused || failed[0] != unread || failed[3] != unread || !errors.Is(failed[4], ErrInvalidAddr) {
		t.Errorf("failed %v", failed)
	}
	reads = nil
	byGroup(addrs("192.0.2.9"), group, read, func(string, int) {}, func(int, error) {})
	if reads != nil {
		t.Errorf("read %v with no address left", reads)
	}
}
