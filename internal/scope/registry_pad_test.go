package scope

import (
	"testing"
	"unsafe"
)

// A shard is 64 bytes, so the locks of two shards are 64 bytes apart and
// never share a cache line, wherever the array starts.
func TestShardIsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(shard{}); n != 64 {
		t.Fatalf("shard is %d bytes, want 64", n)
	}
}

// The counters every Open and Close updates have a cache line of their
// own: the shards start 64 bytes into the Registry.
func TestRegistryCountersLine(t *testing.T) {
	var r Registry
	if off := unsafe.Offsetof(r.shards); off != 64 {
		t.Fatalf("shards start at %d, want 64", off)
	}
}
