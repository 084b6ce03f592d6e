package scope

import (
	"testing"
	"unsafe"
)

// Each shard fills one 64-byte cache line, so two cores locking
// neighbouring shards do not share a line.
func TestShardIsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(shard{}); n != 64 {
		t.Fatalf("shard is %d bytes, want 64", n)
	}
}
