//go:build !unix

package collector

import "time"

// processCPU is 0 where the process's CPU time is not read:
// BenchmarkCPUPerRecord skips.
func processCPU() time.Duration { return 0 }
