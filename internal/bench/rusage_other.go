//go:build !linux

package bench

import (
	"os"
	"time"
)

// maxRSS is not measured outside Linux.
func maxRSS(*os.ProcessState) int64 { return 0 }

// cpuTime is not measured outside Linux.
func cpuTime() time.Duration { return 0 }

// vmHWM is not measured outside Linux.
func vmHWM() int64 { return 0 }

// procCPU is not measured outside Linux.
func procCPU(int) time.Duration { return 0 }

// machineCPU is not measured outside Linux.
func machineCPU() (busy, total time.Duration) { return 0, 0 }

// threadCPU is not measured outside Linux.
func threadCPU() time.Duration { return 0 }
