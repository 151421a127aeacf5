package backend

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Tunables are the settings the admin API reads and changes, in
// real-world units (the handler applies the process's time scale).
type Tunables struct {
	KeepAliveTimeout     string        `json:"keepalive_timeout"`      // Go duration; "0s" = keep-alive off
	IdleForever          bool          `json:"idle_forever"`           // keep idle connections without limit
	MaxKeepAliveRequests int           `json:"max_keepalive_requests"` // 0 = unlimited
	Close                string        `json:"close"`                  // fin, rst or linger
	Delay                string        `json:"delay"`                  // before every response
	Status               int           `json:"status"`                 // response status
	Faults               []FaultWindow `json:"faults"`                 // replaces the list when given
	TimeScale            float64       `json:"time_scale"`             // read-only
	Elapsed              string        `json:"elapsed"`                // read-only: since start, real-world
}

// FaultWindow is a fault in the admin API. Start counts from the backend's
// start; StartIn, when set instead, counts from the moment of the change.
type FaultWindow struct {
	Kind     string `json:"kind"`
	Start    string `json:"start,omitempty"`
	StartIn  string `json:"start_in,omitempty"`
	Duration string `json:"duration"`
}

// Settings returns the tunables in force, in real-world units at time
// scale scale (0 = 1). The admin API (gwsim backend --admin-listen) serves
// them at GET /admin/config.
func (s *Server) Settings(scale float64) Tunables {
	if scale <= 0 {
		scale = 1
	}
	return s.tunables(scale)
}

// Tune applies the fields given (decoded from a JSON object, real-world
// units at time scale scale) to the configuration in force, through
// Update. An unknown field or a bad value is an error naming the field, and
// nothing changes.
func (s *Server) Tune(fields map[string]json.RawMessage, scale float64) error {
	if scale <= 0 {
		scale = 1
	}
	return s.patch(fields, scale)
}

func (s *Server) tunables(scale float64) Tunables {
	cfg := s.now().cfg
	real := func(d time.Duration) string { return time.Duration(float64(d) / scale).String() }
	t := Tunables{KeepAliveTimeout: real(cfg.KeepAliveTimeout), IdleForever: cfg.IdleForever,
		MaxKeepAliveRequests: cfg.MaxKeepAliveRequests, Close: string(cfg.Close), Delay: real(cfg.Delay),
		Status: cfg.Status, Faults: []FaultWindow{}, TimeScale: scale, Elapsed: real(s.Elapsed().Round(time.Millisecond))}
	for _, f := range cfg.Faults {
		t.Faults = append(t.Faults, FaultWindow{Kind: string(f.Kind), Start: real(f.Start), Duration: real(f.Duration)})
	}
	return t
}

// patch applies tunables to the configuration in force.
func (s *Server) patch(raw map[string]json.RawMessage, scale float64) error {
	cfg := s.now().cfg
	dur := func(field string, v json.RawMessage) (time.Duration, error) {
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return 0, fmt.Errorf("%s: want a duration string like \"120s\"", field)
		}
		d, err := time.ParseDuration(str)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%s: bad duration %q (want e.g. \"120s\", >= 0)", field, str)
		}
		return time.Duration(float64(d) * scale), nil
	}
	for field, v := range raw {
		var err error
		switch field {
		case "keepalive_timeout":
			cfg.KeepAliveTimeout, err = dur(field, v)
			cfg.IdleForever = false
		case "idle_forever":
			err = json.Unmarshal(v, &cfg.IdleForever)
		case "max_keepalive_requests":
			err = json.Unmarshal(v, &cfg.MaxKeepAliveRequests)
		case "close":
			var str string
			if err = json.Unmarshal(v, &str); err == nil {
				cfg.Close, err = ParseCloseStyle(str)
			}
		case "delay":
			cfg.Delay, err = dur(field, v)
		case "status":
			err = json.Unmarshal(v, &cfg.Status)
		case "faults":
			var fws []FaultWindow
			if err = json.Unmarshal(v, &fws); err == nil {
				cfg.Faults, err = s.faults(fws, dur)
			}
		case "time_scale", "elapsed":
			err = fmt.Errorf("%s is read-only", field)
		default:
			err = fmt.Errorf("unknown field %q (want keepalive_timeout, idle_forever, max_keepalive_requests, close, delay, status or faults)", field)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), field) {
				err = fmt.Errorf("%s: %w", field, err)
			}
			return err
		}
	}
	return s.Update(cfg)
}

func (s *Server) faults(fws []FaultWindow, dur func(string, json.RawMessage) (time.Duration, error)) ([]Fault, error) {
	var out []Fault
	for i, fw := range fws {
		field := fmt.Sprintf("faults[%d]", i)
		q := func(v string) json.RawMessage { b, _ := json.Marshal(v); return b }
		f := Fault{Kind: FaultKind(fw.Kind)}
		var err error
		if f.Duration, err = dur(field+".duration", q(fw.Duration)); err != nil {
			return nil, err
		}
		switch {
		case fw.StartIn != "":
			var in time.Duration
			if in, err = dur(field+".start_in", q(fw.StartIn)); err != nil {
				return nil, err
			}
			f.Start = s.Elapsed() + in
		case fw.Start != "":
			if f.Start, err = dur(field+".start", q(fw.Start)); err != nil {
				return nil, err
			}
		}
		out = append(out, f)
	}
	return out, nil
}
