package explain

// CauseClientIdleRace is the client-side cause: the client reused a
// connection the gateway was closing (its idle timeout is longer than the
// gateway's client keep-alive).
const CauseClientIdleRace = "client-idle-race"

// CauseBackendClosedReused is a failure on a reused connection that the
// backend closed before any answer byte when nothing shows its keep-alive
// closed it: no backend events tell, and the connection's idle age does
// not fit the backend's keep-alive (known from the scenario, or from a
// cluster of the failures' idle ages). A backend that drops requests looks
// like this; the keep-alive race is named only on evidence.
const CauseBackendClosedReused = "backend-closed-reused-connection"

// Causes are the causes the explanation engine names beside the gateway's
// own (proxy.Causes).
var Causes = []string{CauseClientIdleRace, CauseBackendClosedReused}
