package backend

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCloseStyle(t *testing.T) {
	tests := []struct {
		in      string
		want    CloseStyle
		wantErr string
	}{
		{"fin", CloseFIN, ""},
		{"rst", CloseRST, ""},
		{"linger", CloseLinger, ""},
		{"RST", CloseRST, ""},
		{"", "", `unknown close style "" (want fin, rst or linger)`},
		{"x", "", `unknown close style "x" (want fin, rst or linger)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCloseStyle(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseCloseStyle(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCloseStyle(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = valid
	}{
		{"zero", Config{}, ""},
		{"full", Config{KeepAliveTimeout: time.Second, AdvertisedKeepAlive: time.Second, MaxKeepAliveRequests: 3,
			Close: CloseLinger, LingerTimeout: time.Second, RaceTrap: true, Delay: time.Millisecond, Status: 503,
			ResponseSize: 10, Faults: []Fault{{FaultHang, 0, time.Second}, {FaultReset, time.Second, 0}},
			ReadHeaderTimeout: time.Second}, ""},
		{"status 100", Config{Status: 100}, ""},
		{"status 599", Config{Status: 599}, ""},
		{"negative keep-alive", Config{KeepAliveTimeout: -1}, "KeepAliveTimeout"},
		{"negative advertised", Config{AdvertisedKeepAlive: -1}, "AdvertisedKeepAlive"},
		{"negative linger", Config{LingerTimeout: -1}, "LingerTimeout"},
		{"negative delay", Config{Delay: -1}, "Delay"},
		{"negative read header", Config{ReadHeaderTimeout: -1}, "ReadHeaderTimeout"},
		{"negative max requests", Config{MaxKeepAliveRequests: -1}, "MaxKeepAliveRequests"},
		{"negative size", Config{ResponseSize: -1}, "ResponseSize"},
		{"status 99", Config{Status: 99}, "Status 99"},
		{"status 600", Config{Status: 600}, "Status 600"},
		{"close style", Config{Close: "tcp"}, `Close: unknown close style "tcp"`},
		{"fault kind", Config{Faults: []Fault{{Kind: "slow", Duration: 1}}}, `Faults[0].Kind: unknown fault kind "slow"`},
		{"fault start", Config{Faults: []Fault{{FaultHang, 0, 1}, {FaultHang, -1, 1}}}, "Faults[1].Start"},
		{"fault duration", Config{Faults: []Fault{{FaultReset, 0, -1}}}, "Faults[0].Duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if _, nerr := New(tt.cfg, nil, nil); nerr == nil {
				t.Fatalf("New accepted an invalid config")
			}
		})
	}
}

func TestConfigScaled(t *testing.T) {
	cfg := Config{
		KeepAliveTimeout:     5 * time.Second,
		AdvertisedKeepAlive:  4 * time.Second,
		MaxKeepAliveRequests: 100,
		Close:                CloseLinger,
		LingerTimeout:        2 * time.Second,
		Delay:                time.Second,
		ReadHeaderTimeout:    0, // default: stays 0
		Faults:               []Fault{{FaultHang, 10 * time.Second, 3 * time.Second}},
		Status:               503,
		ResponseSize:         1000,
	}
	got := cfg.Scaled(0.01)
	want := Config{
		KeepAliveTimeout:     50 * time.Millisecond,
		AdvertisedKeepAlive:  40 * time.Millisecond,
		MaxKeepAliveRequests: 100,
		Close:                CloseLinger,
		LingerTimeout:        20 * time.Millisecond,
		Delay:                10 * time.Millisecond,
		Faults:               []Fault{{FaultHang, 100 * time.Millisecond, 30 * time.Millisecond}},
		Status:               503,
		ResponseSize:         1000,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Scaled(0.01) =\n%+v\nwant\n%+v", got, want)
	}
	if cfg.Faults[0].Start != 10*time.Second {
		t.Errorf("Scaled modified the original's faults")
	}
	for _, f := range []float64{1, 0, -2} {
		if got := cfg.Scaled(f); !reflect.DeepEqual(got, cfg) {
			t.Errorf("Scaled(%v) changed the config", f)
		}
	}
	if got := (Config{KeepAliveTimeout: 1}).Scaled(0.001).KeepAliveTimeout; got != 1 {
		t.Errorf("Scaled 1ns keep-alive by 0.001 = %v, want 1ns (keep-alive must stay on)", got)
	}
	if got := (Config{KeepAliveTimeout: time.Second}).Scaled(2).KeepAliveTimeout; got != 2*time.Second {
		t.Errorf("Scaled(2) = %v, want 2s", got)
	}
}

func TestPresets(t *testing.T) {
	names := PresetNames()
	if want := []string{"apache", "caddy", "go", "gunicorn", "gunicorn-sync", "iis", "jetty", "kestrel", "lighttpd", "nginx", "node", "node26", "puma", "tomcat", "uvicorn"}; !slices.Equal(names, want) {
		t.Fatalf("PresetNames() = %v, want %v", names, want)
	}
	if !slices.IsSorted(names) {
		t.Errorf("PresetNames not sorted")
	}
	tests := []struct {
		name        string
		keepAlive   time.Duration
		advertised  string
		maxRequests int
		close       CloseStyle
		forever     bool
	}{
		{"apache", 5 * time.Second, "timeout=5", 101, CloseLinger, false},
		{"go", 0, "", 0, CloseFIN, true},
		{"nginx", 75 * time.Second, "timeout=75", 1000, CloseFIN, false},
		{"node", 6 * time.Second, "timeout=5", 0, CloseFIN, false},
		{"node26", 65 * time.Second, "timeout=65", 0, CloseFIN, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Preset(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("preset invalid: %v", err)
			}
			if cfg.KeepAliveTimeout != tt.keepAlive || cfg.MaxKeepAliveRequests != tt.maxRequests ||
				cfg.Close != tt.close || cfg.IdleForever != tt.forever {
				t.Errorf("Preset(%q) = %+v", tt.name, cfg)
			}
			if got := advertised(cfg.withDefaults()); got != tt.advertised {
				t.Errorf("advertised keep-alive = %q, want %q", got, tt.advertised)
			}
		})
	}
	_, err := Preset("iis6")
	if want := `unknown backend preset "iis6" (want apache, caddy, go, gunicorn, gunicorn-sync, iis, jetty, kestrel, lighttpd, nginx, node, node26, puma, tomcat, uvicorn)`; err == nil || err.Error() != want {
		t.Errorf("Preset(iis6) error = %v, want %q", err, want)
	}
}

func TestAdvertised(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{KeepAliveTimeout: 50 * time.Millisecond}, "timeout=1"},
		{Config{KeepAliveTimeout: 5999 * time.Millisecond}, "timeout=5"},
		{Config{KeepAliveTimeout: 6 * time.Second, AdvertisedKeepAlive: 5 * time.Second}, "timeout=5"},
		{Config{IdleForever: true}, ""},
		{Config{IdleForever: true, AdvertisedKeepAlive: 30 * time.Second}, "timeout=30"},
	}
	for _, tt := range tests {
		if got := advertised(tt.cfg); got != tt.want {
			t.Errorf("advertised(%+v) = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}
