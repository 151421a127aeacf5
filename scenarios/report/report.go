// Package report renders scenario results: the text table `gwsim run`
// prints, with a line under each scenario saying why, and the JSON document
// of the CLI contract.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
	"github.com/gwsim/gwsim/scenarios/explain"
)

// Table writes one row per scenario and, under each, why it came out so.
func Table(w io.Writer, results []*scenarios.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tGATEWAY\tBACKEND KEEP-ALIVE\tREQUESTS\t502\t503\t504\tCLIENT ERR\tMAIN CAUSE\tVERDICT")
	for _, r := range results {
		cause := r.MainCause()
		if cause == "" {
			cause = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Scenario.Name, r.Profile.Name,
			keepAlive(r), r.Requests, r.Status[502], r.Status[503], r.Status[504], sum(r.ClientErrors), cause, verdict(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "%s (time scale %g, link %s one way):\n", r.Scenario.Name, r.TimeScale, r.LinkLatency)
		for _, line := range Why(r) {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	return nil
}

func verdict(r *scenarios.Result) string {
	switch {
	case r.Err != nil:
		return "ERROR"
	case r.Pass:
		return "pass"
	case r.Outcome == scenarios.OutcomeInconclusive:
		return "inconclusive"
	}
	return "FAIL"
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// unscale turns a scaled duration back into the scenario's real-world value.
func unscale(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) / scale)
}

func keepAlive(r *scenarios.Result) string {
	b := r.Backend
	switch {
	case b.IdleForever:
		return "no limit"
	case b.KeepAliveTimeout == 0:
		return "off"
	}
	return human(unscale(b.KeepAliveTimeout, r.TimeScale))
}

func gatewayIdle(r *scenarios.Result) string {
	if r.Profile.BackendIdleTimeout == 0 {
		return "none"
	}
	return human(unscale(r.Profile.BackendIdleTimeout, r.TimeScale))
}

// human prints a duration with at most 5 significant digits.
func human(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'g', 5, 64) + " s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'g', 5, 64) + " ms"
	}
	return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) + " µs"
}

// Why explains a result in a few lines of plain words.
func Why(r *scenarios.Result) []string {
	var out []string
	if r.Err != nil {
		return []string{"could not run: " + r.Err.Error()}
	}
	if r.Outcome == scenarios.OutcomeInconclusive {
		line := "inconclusive: " + r.InconclusiveReason
		if len(r.Failures) > 0 {
			line += "; what failed: " + strings.Join(r.Failures, "; ")
		}
		out = append(out, line)
	}
	if g := r.Scenario.Gateway; g.Real() {
		out = append(out, fmt.Sprintf("the gateway is real (%s): its failures are counted by the statuses the client got; gwsim sees its backend connections from the backend", g.URL))
	}
	if r.Attempts > 1 {
		out = append(out, fmt.Sprintf("attempt %d: the earlier attempts were inconclusive (--repeat)", r.Attempts))
	}
	if r.Scenario.Why != "" {
		out = append(out, "why: "+r.Scenario.Why)
	}
	ka, gi := keepAlive(r), gatewayIdle(r)
	switch {
	case r.Analysis != nil && hasRace(r.Analysis):
		out = append(out, raceLine(r))
		if x := firstRace(r.Analysis); x != nil {
			out = append(out, "first: "+x.Story(r.Analysis.Start)+" (--explain for more)")
		}
	case len(r.Causes) > 0:
		// the failures below say what happened
	case r.Backend.KeepAliveTimeout == 0 && !r.Backend.IdleForever:
		out = append(out, "backend keep-alive off: every response says Connection: close, no connection is reused, no race")
	default:
		if _, d, err := ScenarioCheck(r.Scenario, 0, 0); err == nil {
			out = append(out, fmt.Sprintf("race rule: %s: %s", d.Verdict, d.Rule))
			if d.Verdict != scenarios.Safe && r.Profile.BackendIdleTimeout == 0 {
				out = append(out, fmt.Sprintf("gateway idle limit %s, backend keep-alive %s: no request came after an idle gap that long in this run; %s", gi, ka, d.Advice))
			}
		}
	}
	if n := r.Causes[explain.CauseClientIdleRace]; n > 0 {
		out = append(out, fmt.Sprintf("%d client request(s) went out on a connection the gateway was closing at its %s client keep-alive: the client saw %s; the gateway logged nothing",
			n, human(unscale(r.Profile.ClientKeepAlive, r.TimeScale)), kinds(r.ClientErrors)))
	}
	if n := r.Causes[proxy.CauseBackendTimeout]; n > 0 {
		out = append(out, fmt.Sprintf("%d request(s) got no answer within the %s request time-out (%s at time scale %g): cause backend-timeout",
			n, human(unscale(r.Profile.RequestTimeout, r.TimeScale)), human(r.Profile.RequestTimeout), r.TimeScale))
	}
	if n := r.Causes[proxy.CauseBackendResetMidRequest]; n > 0 {
		out = append(out, fmt.Sprintf("%d request(s) had their connection cut by the backend while it held them: cause backend-reset-mid-request", n))
	}
	if r.Causes[proxy.CauseKeepaliveRace] == 0 && (r.Causes[proxy.CauseBackendTimeout] > 0 || r.Causes[proxy.CauseBackendResetMidRequest] > 0) {
		out = append(out, fmt.Sprintf("none of it is the keep-alive race; the client got %s", codes(r.Status, 500)))
	}
	if r.Retries > 0 {
		out = append(out, fmt.Sprintf("the gateway retried %d request(s); statuses by method: %s", r.Retries, byMethod(r.StatusByMethod)))
	}
	if r.Analysis != nil && len(r.Analysis.Causes) > 0 {
		out = append(out, "verdict: "+r.Analysis.Verdict())
	}
	for _, f := range r.Failures {
		out = append(out, "expectation failed: "+f)
	}
	if r.BackendOutput != "" && !r.Pass {
		out = append(out, "backend output (last lines): "+lastLines(r.BackendOutput, 5))
	}
	if r.GatewayOutput != "" && !r.Pass {
		out = append(out, "gateway output (last lines): "+lastLines(r.GatewayOutput, 5))
	}
	return out
}

// lastLines is the last n lines of s, joined with " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

func raceLine(r *scenarios.Result) string {
	var idle []time.Duration
	retried, silent := 0, 0
	for _, x := range r.Analysis.Explanations {
		if x.Cause != proxy.CauseKeepaliveRace {
			continue
		}
		idle = append(idle, x.Idle)
		if x.Retried {
			retried++
		}
		if x.ClosedSilently {
			silent++
		}
	}
	slices.Sort(idle)
	var reached []string
	if r.First502 >= 0 {
		reached = append(reached, "first 502 after "+human(r.First502))
	}
	if silent > 0 {
		reached = append(reached, fmt.Sprintf("%d reached the client as its connection closed without a response", silent))
	}
	first := "none reached the client"
	if len(reached) > 0 {
		first = strings.Join(reached, "; ")
	}
	hidden := ""
	if retried > 0 {
		hidden = fmt.Sprintf(" (%d resent by the retry policy)", retried)
	}
	ka := "its keep-alive"
	if k := r.Backend.KeepAliveTimeout; k > 0 && !r.Backend.IdleForever {
		ka = fmt.Sprintf("its %s keep-alive (%s at time scale %g)", human(k), keepAlive(r), r.TimeScale)
	}
	return fmt.Sprintf("%d × keepalive-race%s: the gateway sent a request on a pooled connection idle %s (median; %s to %s) (gateway's clock) just as the backend closed it at %s; gateway idle limit %s; %s",
		len(idle), hidden, human(idle[len(idle)/2]), human(idle[0]), human(idle[len(idle)-1]), ka, gatewayIdle(r), first)
}

// firstRace is the first race the client saw (else the first hidden one).
func firstRace(a *explain.Analysis) *explain.Explanation {
	for i := range a.Explanations {
		if a.Explanations[i].Cause == proxy.CauseKeepaliveRace {
			return &a.Explanations[i]
		}
	}
	return nil
}

func hasRace(a *explain.Analysis) bool { return firstRace(a) != nil }

func kinds(m map[string]int64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func codes(m map[int]int64, from int) string {
	var parts []string
	for c, v := range m {
		if c >= from {
			parts = append(parts, fmt.Sprintf("%d ×%d", c, v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func byMethod(m map[string]map[int]int64) string {
	var parts []string
	for meth, st := range m {
		parts = append(parts, meth+" "+codes(st, 0))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// SchemaVersion is the "schema_version" of every JSON document gwsim
// prints (run, check, explain, matrix, probe; load's is load.SchemaVersion):
// raised when a key changes meaning or goes. Keys with seconds say which
// world they are in where both sit in one object: _real for the real
// world (the scenario's durations), _scaled for the run's time at its
// time scale (what the clock measured).
const SchemaVersion = 1

// Document is the JSON of `gwsim run --json`.
type Document struct {
	SchemaVersion int            `json:"schema_version"` // first key
	Scenarios     []ScenarioJSON `json:"scenarios"`
	Pass          bool           `json:"pass"`
	// Outcome is fail when a scenario failed, else inconclusive when one
	// was, else pass (`gwsim run` exits 3, 4 or 0).
	Outcome string `json:"outcome"`
}

// Outcome is the outcome of a whole run: fail when a scenario failed or
// could not run, else inconclusive when one was, else pass.
func Outcome(results []*scenarios.Result) string {
	out := scenarios.OutcomePass
	for _, r := range results {
		switch {
		case r.Err != nil || r.Outcome == scenarios.OutcomeFail:
			return scenarios.OutcomeFail
		case r.Outcome == scenarios.OutcomeInconclusive:
			out = scenarios.OutcomeInconclusive
		}
	}
	return out
}

// ScenarioJSON is one scenario in the document. The first keys are the CLI
// contract (ARCHITECTURE.md); the rest add detail.
type ScenarioJSON struct {
	Name                    string                      `json:"name"`
	Pass                    bool                        `json:"pass"`
	Outcome                 string                      `json:"outcome"`                       // pass, fail or inconclusive
	InconclusiveReason      string                      `json:"inconclusive_reason,omitempty"` // why the machine's timing could have made the failure
	Attempts                int                         `json:"attempts,omitempty"`            // runs made (run --repeat re-runs an inconclusive one)
	Timing                  *TimingJSON                 `json:"timing,omitempty"`
	Requests                int64                       `json:"requests"`
	Status                  map[string]int64            `json:"status"`
	Causes                  map[string]int64            `json:"causes"`
	ClientErrors            map[string]int64            `json:"client_errors"`
	WallSeconds             float64                     `json:"wall_seconds"`
	Error                   string                      `json:"error,omitempty"`
	Failures                []string                    `json:"failures"` // what differed from expect; [] when nothing
	Gateway                 string                      `json:"gateway"`
	TimeScale               float64                     `json:"time_scale"`
	BackendKeepaliveSeconds *float64                    `json:"backend_keepalive_seconds_real"` // real-world; null = no limit; 0 = off
	GatewayIdleSeconds      *float64                    `json:"gateway_idle_seconds_real"`      // real-world; null = no limit
	LinkLatencySeconds      float64                     `json:"link_latency_seconds"`           // physical: not scaled, the same in both worlds
	First502Seconds         *float64                    `json:"first_502_seconds_scaled"`       // from the start of the load, at the run's time scale
	Retries                 int64                       `json:"retries"`
	StatusByMethod          map[string]map[string]int64 `json:"status_by_method"`
	CauseDetail             map[string]int64            `json:"cause_detail"` // cause/subkind, e.g. keepalive-race/linger
	Explanations            []ExplanationJSON           `json:"explanations"` // every failure (the first 200), visible ones first, then those a retry hid
	Verdict                 string                      `json:"verdict"`
	// Check is the race rule's decision for the scenario's gateway, backend
	// and link in the real world: what `gwsim check --json` prints for it.
	Check *CheckJSON `json:"check,omitempty"`
	// Model is the analytic model's prediction beside the measurement:
	// the share of requests answered with the race status.
	Model *ModelJSON `json:"model,omitempty"`
}

// TimingJSON is how late this machine's timers ran during the run (wall
// seconds) and the tightest margin the answer depended on.
type TimingJSON struct {
	LatenessP99Seconds     float64 `json:"lateness_p99_seconds"`
	LatenessMaxSeconds     float64 `json:"lateness_max_seconds"`
	BackendTimerMaxSeconds float64 `json:"backend_timer_late_max_seconds"`
	MarginSeconds          float64 `json:"margin_seconds"`
	Margin                 string  `json:"margin"`
	// BackendCloseSeconds is the backend's idle close measured before a
	// gap sweep centred on it, beside its nominal keep-alive at the run's
	// scale; both absent for other loads.
	BackendCloseSeconds     float64 `json:"backend_close_seconds_scaled,omitempty"`
	BackendKeepaliveSeconds float64 `json:"backend_keepalive_seconds_scaled,omitempty"`
}

// ModelJSON is the analytic model's prediction for a scenario.
type ModelJSON struct {
	Kind          string   `json:"kind"`           // poisson, fixed-gaps or none
	PredictedRate *float64 `json:"predicted_rate"` // null outside the model's domain
	Domain        string   `json:"outside_domain,omitempty"`
	MeasuredRate  float64  `json:"measured_rate"`
	RaceAnswers   int64    `json:"race_answers"` // requests answered because of the race
}

// ExplanationJSON is one explained failure.
type ExplanationJSON struct {
	Cause           string   `json:"cause"`
	Subkind         string   `json:"subkind,omitempty"`
	Status          int      `json:"status,omitempty"`
	ClientError     string   `json:"client_error,omitempty"`
	Method          string   `json:"method,omitempty"`
	Retried         bool     `json:"retried,omitempty"`
	GatewayConn     uint64   `json:"gateway_conn,omitempty"`
	BackendConn     uint64   `json:"backend_conn,omitempty"`
	Local           string   `json:"local,omitempty"`
	Remote          string   `json:"remote,omitempty"`
	IdleSeconds     float64  `json:"idle_seconds"`               // idle age when reused (measured, scaled time)
	ConnAgeSeconds  float64  `json:"conn_age_seconds,omitempty"` // measured
	Requests        int      `json:"requests,omitempty"`         // exchanges on the connection, this one included
	ClosedFirst     string   `json:"closed_first,omitempty"`
	DeltaSeconds    *float64 `json:"delta_seconds,omitempty"`     // request write minus the backend's close
	FailAfterMillis float64  `json:"fail_after_millis,omitempty"` // from the write to the EOF or reset
	Error           string   `json:"error,omitempty"`
	Story           string   `json:"story"`
	// AccessLog is the gateway's access-log line joined to a capture's
	// failure (gwsim explain --access-log).
	AccessLog *AccessLogJSON `json:"access_log,omitempty"`
}

// AccessLogJSON is an access-log line joined to an explanation.
type AccessLogJSON struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Status   int    `json:"status"`
	Class    string `json:"class"`
	Evidence string `json:"evidence"`
}

// JSON writes the document for results.
func JSON(w io.Writer, results []*scenarios.Result) error {
	doc := Document{SchemaVersion: SchemaVersion, Scenarios: []ScenarioJSON{}, Pass: true, Outcome: Outcome(results)}
	for _, r := range results {
		doc.Pass = doc.Pass && r.Pass
		doc.Scenarios = append(doc.Scenarios, scenarioJSON(r))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func scenarioJSON(r *scenarios.Result) ScenarioJSON {
	s := ScenarioJSON{
		Name: r.Scenario.Name, Pass: r.Pass, Outcome: r.Outcome, InconclusiveReason: r.InconclusiveReason, Attempts: r.Attempts, Requests: r.Requests,
		Status: map[string]int64{}, Causes: map[string]int64{}, ClientErrors: map[string]int64{},
		WallSeconds: r.Wall.Seconds(), Failures: append([]string{}, r.Failures...), Gateway: r.Profile.Name, TimeScale: r.TimeScale,
		LinkLatencySeconds: r.LinkLatency.Seconds(), Retries: r.Retries,
		StatusByMethod: map[string]map[string]int64{}, Explanations: []ExplanationJSON{},
	}
	if c, _, err := ScenarioCheck(r.Scenario, 0, 0); err == nil {
		s.Check = &c
	}
	if r.Err != nil {
		s.Error = r.Err.Error()
	} else {
		t := r.Timing
		s.Timing = &TimingJSON{LatenessP99Seconds: t.LatenessP99.Seconds(), LatenessMaxSeconds: t.LatenessMax.Seconds(),
			BackendTimerMaxSeconds: t.BackendTimerMax.Seconds(), MarginSeconds: t.Margin.Seconds(), Margin: t.MarginWhat,
			BackendCloseSeconds: t.BackendClose.Seconds(), BackendKeepaliveSeconds: t.BackendKeepAlive.Seconds()}
	}
	for k, v := range r.Status {
		s.Status[strconv.Itoa(k)] = v
	}
	for k, v := range r.Causes {
		s.Causes[k] = v
	}
	for k, v := range r.ClientErrors {
		s.ClientErrors[k] = v
	}
	for m, st := range r.StatusByMethod {
		s.StatusByMethod[m] = map[string]int64{}
		for k, v := range st {
			s.StatusByMethod[m][strconv.Itoa(k)] = v
		}
	}
	if !r.Backend.IdleForever {
		v := unscale(r.Backend.KeepAliveTimeout, r.TimeScale).Seconds()
		s.BackendKeepaliveSeconds = &v
	}
	if r.Profile.BackendIdleTimeout > 0 {
		v := unscale(r.Profile.BackendIdleTimeout, r.TimeScale).Seconds()
		s.GatewayIdleSeconds = &v
	}
	if r.First502 >= 0 {
		v := r.First502.Seconds()
		s.First502Seconds = &v
	}
	if p, err := scenarios.Predict(r.Scenario, r.TimeScale); err == nil && r.Err == nil {
		m := &ModelJSON{Kind: p.Model, RaceAnswers: r.RaceAnswers()}
		if p.OutOfDomain {
			m.Domain = p.Why
		} else {
			rate := p.Rate
			m.PredictedRate = &rate
		}
		if r.Requests > 0 {
			m.MeasuredRate = float64(m.RaceAnswers) / float64(r.Requests)
		}
		s.Model = m
	}
	s.CauseDetail = map[string]int64{}
	if a := r.Analysis; a != nil {
		for k, v := range a.Subkinds {
			s.CauseDetail[k] = v
		}
		s.Verdict = a.Verdict()
		s.Explanations = explanationsJSON(a, 200)
	}
	return s
}

// explanationsJSON is a's first limit explanations (all when limit <= 0).
func explanationsJSON(a *explain.Analysis, limit int) []ExplanationJSON {
	out := []ExplanationJSON{}
	for i := range a.Explanations {
		if limit > 0 && i == limit {
			break
		}
		x := &a.Explanations[i]
		ej := ExplanationJSON{Cause: x.Cause, Subkind: x.Subkind, Status: x.Status, ClientError: x.ClientErr,
			Method: x.Method, Retried: x.Retried, GatewayConn: x.GatewayConn, BackendConn: x.BackendConn,
			Local: x.Local, Remote: x.Remote, IdleSeconds: x.Idle.Seconds(), ConnAgeSeconds: x.ConnAge.Seconds(),
			Requests: x.Requests, ClosedFirst: x.ClosedFirst, Error: x.Err, Story: x.Story(a.Start)}
		if !x.WriteAt.IsZero() && !x.FailAt.IsZero() {
			ej.FailAfterMillis = float64(x.FailAt.Sub(x.WriteAt)) / 1e6
		}
		if x.HasDelta {
			d := x.Delta.Seconds()
			ej.DeltaSeconds = &d
		}
		if l := x.AccessLog; l != nil {
			ej.AccessLog = &AccessLogJSON{File: l.File, Line: l.Line, Status: l.Status, Class: string(l.Class), Evidence: l.Evidence}
		}
		out = append(out, ej)
	}
	return out
}

// ExplainDocumentJSON is `gwsim explain --json`.
type ExplainDocumentJSON struct {
	SchemaVersion int              `json:"schema_version"` // first key
	Analyses      []ExplainDocJSON `json:"analyses"`       // one per scenario of the journals, then one per capture
}

// ExplainDocJSON is one analysis in `gwsim explain --json`.
type ExplainDocJSON struct {
	Name         string            `json:"name"` // the scenario, or the capture file
	Causes       map[string]int64  `json:"causes"`
	CauseDetail  map[string]int64  `json:"cause_detail"`
	Verdict      string            `json:"verdict"`
	Explanations []ExplanationJSON `json:"explanations"` // every failure
}

// ExplainJSON writes the analyses, named, as `gwsim explain --json` does.
func ExplainJSON(w io.Writer, names []string, analyses []*explain.Analysis) error {
	doc := ExplainDocumentJSON{SchemaVersion: SchemaVersion, Analyses: []ExplainDocJSON{}}
	for i, a := range analyses {
		doc.Analyses = append(doc.Analyses, ExplainDocJSON{Name: names[i], Causes: orEmpty(a.Causes), CauseDetail: orEmpty(a.Subkinds),
			Verdict: a.Verdict(), Explanations: explanationsJSON(a, 0)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// orEmpty is m, or an empty map for nil: JSON {} rather than null.
func orEmpty[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}
