package testenv

import "runtime"

// Allocated runs f and returns how many bytes it allocated: a measure of
// cost that, unlike a wall-clock bound, load on the machine does not
// change. Allocations of other goroutines running meanwhile count too.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
