package collector

// StreamMemory is about what one dataset holds while it is written: its
// gzip stream at GzipLevel (klauspost's compressor, about 800 KB), the
// NDJSON chunk gathered for it (encChunk), gzip's output buffer (encOut)
// and one page body in the 128 KB size class most lists' pages fall in.
// TestStreamMemory measures it.
const StreamMemory = 1152 << 10

// BaseMemory is what a run holds besides its streams, with room to
// spare: the Go runtime and the binary, the clients and their
// connections, and the results and manifest of 1,000 tenants (a run of 50
// tenants at concurrency 2 peaks at 31 MB).
const BaseMemory = 64 << 20

// MemoryNeeded is the most memory a run at concurrency can hold: when the
// CPU falls behind the answers (a small Lambda function has a fraction of
// a core), every tenant in flight writes tenantDatasetConcurrency
// datasets at once, each holding StreamMemory. Pages larger than 128 KB
// add what they exceed it by.
func MemoryNeeded(concurrency int) int64 {
	return BaseMemory + int64(concurrency)*tenantDatasetConcurrency*StreamMemory
}

// ConcurrencyFor is the most tenants in flight whose MemoryNeeded fits in
// memory bytes; 0 when not even one does.
func ConcurrencyFor(memory int64) int {
	if memory < BaseMemory {
		return 0
	}
	return int((memory - BaseMemory) / (tenantDatasetConcurrency * StreamMemory))
}
