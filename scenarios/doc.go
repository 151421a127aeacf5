// Package scenarios holds gwsim's runnable cases: the scenario schema
// (YAML), the built-in library embedded in the binary, and the in-process
// runner that starts backend members, the gateway and the load driver on
// loopback, runs the load, and checks the scenario's expectations.
//
// Durations in a scenario are real-world values (a 60 s gateway idle
// timeout, a 5 s backend keep-alive) multiplied by its time_scale when it
// runs; link latencies and the gap offsets of a gap sweep are physical and
// never scaled, because the width of the race window is physical.
package scenarios
