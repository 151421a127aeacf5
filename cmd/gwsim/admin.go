package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
