package backend

import "testing"

// TestAdvertiseModes: the Keep-Alive header always (Node), only answering
// Connection: keep-alive (Apache, Tomcat), or never (nginx, Gunicorn and
// most others), as TestRealServers measured the real servers.
func TestAdvertiseModes(t *testing.T) {
	for _, tt := range []struct {
		mode            AdvertiseMode
		asked, notAsked string
	}{
		{"", "timeout=5, max=9", "timeout=5, max=8"},
		{AdvertiseAlways, "timeout=5, max=9", "timeout=5, max=8"},
		{AdvertiseAsked, "timeout=5, max=9", ""},
		{AdvertiseNever, "", ""},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			ts := startServer(t, Config{KeepAliveTimeout: 5e9, MaxKeepAliveRequests: 10, Advertise: tt.mode})
			c := dial(t, ts.addr)
			resp, _ := c.get("Connection: keep-alive")
			if got := resp.Header.Get("Keep-Alive"); got != tt.asked {
				t.Errorf("asked: Keep-Alive %q, want %q", got, tt.asked)
			}
			resp, _ = c.get()
			if got := resp.Header.Get("Keep-Alive"); got != tt.notAsked {
				t.Errorf("not asked: Keep-Alive %q, want %q", got, tt.notAsked)
			}
			if resp.Close {
				t.Error("the connection closed: the mode changes the header only")
			}
		})
	}
	if _, err := ParseAdvertiseMode("sometimes"); err == nil {
		t.Error("ParseAdvertiseMode(sometimes): no error")
	}
	if err := (Config{Advertise: "sometimes"}).Validate(); err == nil {
		t.Error("Validate accepted advertise sometimes")
	}
}
