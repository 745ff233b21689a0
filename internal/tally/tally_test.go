package tally

import (
	"cmp"
	"fmt"
	"math"
	"testing"
)

func TestAdd(t *testing.T) {
	for _, tc := range []struct{ a, b, limit, want int64 }{
		{1, 2, 10, 3},
		{5, 5, 10, 10},
		{9, 2, 10, 10},
		{10, 10, 10, 10},
		{0, 0, 10, 0},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64 - 1, 1, math.MaxInt64, math.MaxInt64},
		{1 << 62, 1 << 62, 1 << 62, 1 << 62},
	} {
		if got := Add(tc.a, tc.b, tc.limit); got != tc.want {
			t.Errorf("Add(%d, %d, %d) = %d, want %d", tc.a, tc.b, tc.limit, got, tc.want)
		}
	}
}

func TestTop(t *testing.T) {
	desc := func(a, b int) int { return cmp.Compare(b, a) }
	m := map[string]int{"a": 1, "b": 5, "c": 5, "d": 3, "e": 0}
	for n, want := range map[int]string{0: "[]", 1: "[b]", 2: "[b c]", 3: "[b c d]", 9: "[a b c d e]"} {
		if got := keys(Top(m, n, desc)); got != want {
			t.Errorf("Top(m, %d) = %s, want %s", n, got, want)
		}
	}
	if got := keys(Top(map[string]int{}, 3, desc)); got != "[]" {
		t.Errorf("Top of an empty map = %s", got)
	}
}

// keys prints a set's keys in order.
func keys(s map[string]bool) string {
	var ks []string
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if s[k] {
			ks = append(ks, k)
		}
	}
	if len(ks) != len(s) {
		return fmt.Sprintf("unexpected keys in %v", s)
	}
	return fmt.Sprint(ks)
}

func ExampleTop() {
	failed := map[string]int64{"google.com": 40, "microsoft.com": 7, "example.net": 40}
	fmt.Println(Top(failed, 2, func(a, b int64) int { return cmp.Compare(b, a) }))
	// Output: map[example.net:true google.com:true]
}

func TestOrDefault(t *testing.T) {
	for _, tc := range []struct{ limit, want int64 }{
		{0, 7}, {-1, 7}, {math.MinInt64, 7}, {1, 1}, {9, 9}, {math.MaxInt64, math.MaxInt64},
	} {
		if got := OrDefault(tc.limit, 7); got != tc.want {
			t.Errorf("OrDefault(%d, 7) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	if got := OrDefault(0, 3); got != 3 { // an int bound
		t.Errorf("OrDefault(0, 3) = %d, want 3", got)
	}
}
