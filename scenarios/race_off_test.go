//go:build !race

package scenarios

// raceDetector is true when the tests run with -race, which slows every
// goroutine down by a varying factor: timing-accuracy tests skip then.
const raceDetector = false
