//go:build !unix

package bench

import (
	"errors"
	"time"
)

var errNoIOFloor = errors.New("bench: no I/O floor on this platform")

// answersCPU is not measured outside Unix.
func answersCPU(int, int) (time.Duration, error) { return 0, errNoIOFloor }

// objectsCPU is not measured outside Unix.
func objectsCPU(string, int, int) (time.Duration, error) { return 0, errNoIOFloor }
