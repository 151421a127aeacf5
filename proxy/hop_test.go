package proxy

import (
	"net/http"
	"testing"
)

func TestRemoveHopHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("Connection", "X-Custom-Hop, close")
	h.Set("X-Custom-Hop", "1")
	for _, k := range hopHeaders {
		if k != "Connection" {
			h.Set(k, "v")
		}
	}
	h.Set("X-End-To-End", "kept")
	removeHopHeaders(h)
	if len(h) != 1 || h.Get("X-End-To-End") != "kept" {
		t.Fatalf("after removeHopHeaders: %v, want only X-End-To-End", h)
	}
}
