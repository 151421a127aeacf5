package backend

import (
	"strings"
	"testing"
	"time"
)

// TestPresetValues: the servers' defaults as docs/presets.md gives them
// (documents, and the real servers' figures from TestRealServers in package
// scenarios); each preset names a source for its keep-alive, requests and
// close style, and says how it was verified.
func TestPresetValues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		forever   bool
		maxReq    int
	}{
		{"apache", 5 * time.Second, false, 101},
		{"nginx", 75 * time.Second, false, 1000},
		{"node", 6 * time.Second, false, 0},
		{"node26", 65 * time.Second, false, 0},
		{"gunicorn", 2 * time.Second, false, 0},
		{"gunicorn-sync", 0, false, 0},
		{"uvicorn", 5 * time.Second, false, 0},
		{"puma", 20*time.Second + 200*time.Millisecond, false, 0},
		{"tomcat", 60 * time.Second, false, 100},
		{"iis", 120 * time.Second, false, 0},
		{"kestrel", 130 * time.Second, false, 0},
		{"go", 0, true, 0},
		{"jetty", 30 * time.Second, false, 0},
		{"lighttpd", 5 * time.Second, false, 1001},
		{"caddy", 5 * time.Minute, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Preset(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if cfg.KeepAliveTimeout != tc.keepAlive || cfg.IdleForever != tc.forever || cfg.MaxKeepAliveRequests != tc.maxReq || cfg.Close == "" {
				t.Errorf("%+v", cfg)
			}
			fields := map[string]bool{}
			for _, s := range PresetSources(tc.name) {
				if s.Text == "" {
					t.Errorf("empty source for %s", s.Field)
				}
				if strings.Contains(s.Text, "/work/") || strings.Contains(s.Text, "FACTS.md") {
					t.Errorf("source for %s cites a file outside the repository: %s", s.Field, s.Text)
				}
				fields[s.Field] = true
			}
			want := []string{"keepalive_timeout", "max_keepalive_requests", "close"}
			if cfg.Tick > 0 {
				want = append(want, "tick")
			}
			for _, f := range want {
				if !fields[f] {
					t.Errorf("no source for %s", f)
				}
			}
			v := PresetVerified(tc.name)
			measured := strings.HasPrefix(v, "measured: ") && strings.Contains(v, "TestRealServers/"+tc.name)
			if !measured && !strings.HasPrefix(v, "documented only") {
				t.Errorf("verified %q: want measured (version, TestRealServers/%s) or documented only", v, tc.name)
			}
		})
	}
	if len(PresetNames()) != 15 {
		t.Errorf("PresetNames() = %v", PresetNames())
	}
}
