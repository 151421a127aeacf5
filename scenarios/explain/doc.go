// Package explain is gwsim's explanation engine: it joins the events of a
// run's actors (the gateway's both sides, the backend, the load driver; in
// one process or from the journals of several) by connection 4-tuple, and
// tells each failure's story: which connection, idle how long, who closed
// first, how and how far apart from the request, and so its cause. It
// names the keep-alive race only on evidence (the backend's close, or an
// idle age that fits the backend's keep-alive), and gives the verdict with
// the fix in the race rule's words (package rule).
package explain
