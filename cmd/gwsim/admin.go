package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// tunable is a running actor whose settings the admin API reads and
// changes (*backend.Server, *proxy.Gateway).
type tunable[T any] interface {
	Settings(scale float64) T
	Tune(fields map[string]json.RawMessage, scale float64) error
}

// adminHandler serves the live-tuning API at /admin/config:
//
//	GET                 the settings in force (JSON, real-world units)
//	PATCH, POST, PUT    change the fields of a JSON object; 400 with
//	                    {"error": "..."} for an unknown field or a bad value
func adminHandler[T any](t tunable[T], scale float64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/admin/config", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPatch, http.MethodPost, http.MethodPut:
			fields, err := decodeFields(r.Body)
			if err == nil {
				err = t.Tune(fields, scale)
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		default:
			w.Header().Set("Allow", "GET, PATCH, POST, PUT")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + " not allowed"})
			return
		}
		writeJSON(w, http.StatusOK, t.Settings(scale))
	})
	return mux
}

// decodeFields reads a non-empty JSON object.
func decodeFields(body io.Reader) (map[string]json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&fields); err != nil {
		return nil, fmt.Errorf("body: want a JSON object of settings: %v", err)
	}
	if len(fields) == 0 {
		return nil, errors.New("body: no field to change")
	}
	return fields, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// adminGuard keeps the admin API a tool of the operator's, not of a web
// page the operator's browser happens to show:
//
//   - Host must name the listen address (DNS rebinding sends the
//     attacker's name): the exact listen host and port; with a loopback
//     or unspecified listen also localhost, 127.0.0.1 and [::1]; with an
//     unspecified listen also the IP address the connection arrived on.
//     Else 421.
//   - Origin, when sent, must be http:// and name such an address; a
//     browser's Sec-Fetch-Site, when sent, must be same-origin or none.
//     Else 403.
//   - PATCH, POST and PUT must carry Content-Type: application/json, which
//     a page cannot send cross-origin without a CORS preflight (which this
//     API never grants). Else 415.
//
// Each refusal is one line, in the API's {"error": "..."} form.
type adminGuard struct {
	next     http.Handler
	port     string          // the bound port
	names    map[string]bool // accepted hosts: lower case, IPv6 without brackets
	anyLocal bool            // unspecified listen: the connection's local IP is accepted too
	want     string          // what Host must be, for the refusal
}

// guardAdmin wraps the admin API served on a listener bound to bound;
// listen is the address asked for (--admin-listen), whose host is
// accepted as it was written.
func guardAdmin(next http.Handler, listen string, bound net.Addr) http.Handler {
	g := &adminGuard{next: next, names: map[string]bool{}}
	ap, err := netip.ParseAddrPort(bound.String())
	if err != nil { // not an IP listener: nothing names it
		g.want = bound.String()
		return g
	}
	ip := ap.Addr().Unmap().WithZone("")
	g.port = fmt.Sprint(ap.Port())
	g.names[ip.String()] = true
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		g.names[strings.ToLower(host)] = true
	}
	g.want = net.JoinHostPort(ip.String(), g.port)
	if ip.IsLoopback() || ip.IsUnspecified() {
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			g.names[h] = true
		}
		g.want = "localhost, 127.0.0.1 or [::1]"
		if ip.IsUnspecified() {
			g.anyLocal = true
			g.want += " or this host's IP address"
		}
		g.want += ", port " + g.port
	}
	return g
}

func (g *adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, format string, args ...any) {
		writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
	}
	if !g.accepts(r.Host, "80", r) {
		refuse(http.StatusMisdirectedRequest, "Host %q is not this admin API's address (want %s)", r.Host, g.want)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Scheme != "http" || u.Host == "" || !g.accepts(u.Host, "80", r) {
			refuse(http.StatusForbidden, "cross-origin request refused: Origin %q is not this admin API's address", origin)
			return
		}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		refuse(http.StatusForbidden, "cross-origin request refused: Sec-Fetch-Site %q", site)
		return
	}
	switch r.Method {
	case http.MethodPatch, http.MethodPost, http.MethodPut:
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			refuse(http.StatusUnsupportedMediaType, "%s needs Content-Type: application/json, got %q", r.Method, ct)
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// accepts reports whether hostport (a Host header or an Origin's host,
// defPort when it has none) names this admin API for request r.
func (g *adminGuard) accepts(hostport, defPort string, r *http.Request) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), defPort
	}
	if port != g.port || host == "" {
		return false
	}
	host = strings.ToLower(host)
	ip, err := netip.ParseAddr(host)
	if err == nil {
		ip = ip.Unmap().WithZone("")
		host = ip.String()
	}
	if g.names[host] {
		return true
	}
	if !g.anyLocal || err != nil {
		return false
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lp, err := netip.ParseAddrPort(local.String())
	return err == nil && lp.Addr().Unmap().WithZone("") == ip
}
