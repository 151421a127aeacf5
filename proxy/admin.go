package proxy

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Tunables are the gateway settings the admin API reads and changes, in
// real-world units (the handler applies the process's time scale).
type Tunables struct {
	Profile                 string  `json:"profile"`                  // read-only
	BackendIdleTimeout      string  `json:"backend_idle_timeout"`     // Go duration; "0s" = no limit
	RequestTimeout          string  `json:"request_timeout"`          // Go duration
	ClientRequestTimeout    string  `json:"client_request_timeout"`   // Go duration; "0s" = no limit
	TimeoutStatus           int     `json:"timeout_status"`           // status on a time-out
	TimeoutTriesOtherMember bool    `json:"timeout_try_other_member"` // one more try on the next member
	Retry                   string  `json:"retry"`                    // none, idempotent, reset-before-request
	ClientKeepAlive         string  `json:"client_keepalive_timeout"` // read-only
	TimeScale               float64 `json:"time_scale"`               // read-only
}

// Settings returns the tunables in force, in real-world units at time
// scale scale (0 = 1). The admin API (gwsim proxy --admin-listen) serves
// them at GET /admin/config.
func (g *Gateway) Settings(scale float64) Tunables {
	if scale <= 0 {
		scale = 1
	}
	return g.tunables(scale)
}

// Tune applies the fields given (decoded from a JSON object, real-world
// units at time scale scale) to the profile in force, through Update. An
// unknown field or a bad value is an error naming the field, and nothing
// changes.
func (g *Gateway) Tune(fields map[string]json.RawMessage, scale float64) error {
	if scale <= 0 {
		scale = 1
	}
	return g.patch(fields, scale)
}

func (g *Gateway) tunables(scale float64) Tunables {
	p := g.Profile()
	real := func(d time.Duration) string { return time.Duration(float64(d) / scale).String() }
	return Tunables{Profile: p.Name, BackendIdleTimeout: real(p.BackendIdleTimeout), RequestTimeout: real(p.RequestTimeout),
		ClientRequestTimeout: real(p.ClientRequestTimeout),
		TimeoutStatus:        p.TimeoutStatus, TimeoutTriesOtherMember: p.TimeoutTriesOtherMember, Retry: string(p.Retry),
		ClientKeepAlive: real(p.ClientKeepAlive), TimeScale: scale}
}

// patch applies tunables to the profile in force.
func (g *Gateway) patch(raw map[string]json.RawMessage, scale float64) error {
	p := g.Profile()
	dur := func(field string, v json.RawMessage) (time.Duration, error) {
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return 0, fmt.Errorf("%s: want a duration string like \"30s\"", field)
		}
		d, err := time.ParseDuration(str)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%s: bad duration %q (want e.g. \"30s\", >= 0)", field, str)
		}
		return ScaleDuration(d, scale), nil
	}
	for field, v := range raw {
		var err error
		switch field {
		case "backend_idle_timeout":
			p.BackendIdleTimeout, err = dur(field, v)
		case "request_timeout":
			p.RequestTimeout, err = dur(field, v)
		case "client_request_timeout":
			p.ClientRequestTimeout, err = dur(field, v)
		case "timeout_status":
			err = json.Unmarshal(v, &p.TimeoutStatus)
		case "timeout_try_other_member":
			err = json.Unmarshal(v, &p.TimeoutTriesOtherMember)
		case "retry":
			var str string
			if err = json.Unmarshal(v, &str); err == nil {
				p.Retry, err = ParseRetryPolicy(str)
			}
		case "profile", "client_keepalive_timeout", "time_scale":
			err = fmt.Errorf("%s is read-only", field)
		default:
			err = fmt.Errorf("unknown field %q (want backend_idle_timeout, request_timeout, client_request_timeout, timeout_status, timeout_try_other_member or retry)", field)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), field) {
				err = fmt.Errorf("%s: %w", field, err)
			}
			return err
		}
	}
	return g.Update(p)
}
