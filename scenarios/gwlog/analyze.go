package gwlog

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/gwsim/gwsim/scenarios/rule"
)

// The analysis over Records, one pass, in bounded memory: the counts, the
// upstream connections the log names (only their last request is kept),
// the failures (a sample for the report; the race-likely ones' idle gaps,
// 16 bytes each, for the counts), then at the end the backend's keep-alive
// from the failures' idle gaps, each race-likely failure qualified by it,
// and the rule's verdict.

// Options are what Analyze is told besides the log.
type Options struct {
	// Gateway is the gateway's side of the rule: its name, idle limit and
	// reuse, with the race window (BackendKeepAlive is ignored).
	Gateway rule.Setting
	// BackendKeepAlive is the backend's keep-alive when the user states
	// it; 0 = infer it from the log.
	BackendKeepAlive time.Duration
	// MaxFailures bounds the failures kept for the report (0 = 1000); the
	// counts are exact whatever it is.
	MaxFailures int
	// TimeScale is the time scale of the gwsim run that wrote the log (0
	// or 1 = a real gateway's): idle gaps are divided by it, so the
	// keep-alive, the verdict and every idle gap are real-world.
	TimeScale float64
}

// Failure is one failed request (or error-log event) with what the
// analysis found.
type Failure struct {
	Record
	// Idle is how long its upstream connection had been idle when it was
	// sent: from the end of the previous request logged on the connection
	// to its own start (real-world: divided by Options.TimeScale);
	// negative when unknown (the log names no connection, or none was
	// logged on it before).
	Idle time.Duration
	// Prior is how many requests the log shows on its connection before
	// it (0 when the log names no connection).
	Prior int
	// Reason says why the final class, beyond the format's signature.
	Reason string
}

// Hour counts one hour's requests and failures (by the log's clock, UTC).
type Hour struct {
	Hour     time.Time
	Requests int // access-log lines
	Failures int // failed requests and error-log events
	Races    int // failures classed keepalive-race or keepalive-race-likely
}

// Result is the analysis of one or more logs.
type Result struct {
	Formats []Format
	// Requests counts access-log lines; Events counts error-log lines
	// about a request.
	Requests, Events int
	// Skipped counts lines no reader could read; FirstSkipped says where
	// and why.
	Skipped      int
	FirstSkipped string
	Status       map[int]int   // requests by status sent to the client (0 = none)
	Causes       map[Class]int // failures by final class
	// Failures is a sample: the first MaxFailures, in log order;
	// FailuresDropped counts the rest.
	Failures        []Failure
	FailuresDropped int
	// ConnsNamed reports whether the log names the upstream connection of
	// its requests (then idle gaps are measured); Conns counts them.
	ConnsNamed bool
	Conns      int
	// KeepAlive is the backend's keep-alive, stated or inferred; 0 when
	// neither. KeepAliveInferred says it came from the log; KeepAliveNote
	// says how, or why it could not be inferred.
	KeepAlive         time.Duration
	KeepAliveInferred bool
	KeepAliveNote     string
	// Verdict is the rule's, for the gateway and KeepAlive;
	// VerdictInconclusive when KeepAlive is unknown.
	Verdict  string
	Decision rule.Decision
	// Recommended is the backend keep-alive to set behind this gateway
	// (0 when the gateway opens a connection per request).
	Recommended time.Duration
	ByHour      []Hour
}

// VerdictInconclusive is the verdict when the backend's keep-alive is not
// known: the rule cannot be applied.
const VerdictInconclusive = "inconclusive"

// Analyzer accumulates Records; Result finishes the analysis.
type Analyzer struct {
	opts    Options
	res     Result
	conns   map[string]*connState
	hours   map[time.Time]*Hour
	likely  []likelyFailure // every race-likely failure, in order
	added   int
	latest  time.Time
	formats map[Format]bool
}

// connState is what is kept of one upstream connection: its last request.
type connState struct {
	lastStart, lastEnd time.Time
	requests           int
}

// likelyFailure is a race-likely failure's idle gap and hour, for the
// final counts; sample is its index in Failures, or -1.
type likelyFailure struct {
	idle   time.Duration
	hour   time.Time
	sample int
}

// connHorizon is how long a connection with no request is remembered: no
// gateway keeps an idle backend connection longer than an hour (Envoy's
// default idle timeout), so a request on the same 4-tuple later is on a
// new connection.
const connHorizon = 2 * time.Hour

// NewAnalyzer returns an Analyzer.
func NewAnalyzer(o Options) *Analyzer {
	if o.MaxFailures <= 0 {
		o.MaxFailures = 1000
	}
	return &Analyzer{opts: o, conns: map[string]*connState{}, hours: map[time.Time]*Hour{},
		formats: map[Format]bool{}, res: Result{Status: map[int]int{}, Causes: map[Class]int{}}}
}

// Skipped adds a reader's count of lines it could not read.
func (a *Analyzer) Skipped(n int, first string) {
	a.res.Skipped += n
	if a.res.FirstSkipped == "" {
		a.res.FirstSkipped = first
	}
}

// Add takes one record. Records of one connection must come in the order
// the gateway logged them (a log's own order).
func (a *Analyzer) Add(r Record) {
	a.added++
	if !a.formats[r.Format] {
		a.formats[r.Format] = true
		a.res.Formats = append(a.res.Formats, r.Format)
	}
	if r.ErrorLog {
		a.res.Events++
	} else {
		a.res.Requests++
		a.res.Status[r.Status]++
	}
	var h *Hour
	if !r.Time.IsZero() {
		key := r.Time.UTC().Truncate(time.Hour)
		if h = a.hours[key]; h == nil {
			h = &Hour{Hour: key}
			a.hours[key] = h
		}
		if !r.ErrorLog {
			h.Requests++
		}
		if r.Time.After(a.latest) {
			a.latest = r.Time
		}
	}
	f := Failure{Record: r, Idle: -1}
	if r.Conn != "" {
		a.res.ConnsNamed = true
		f.Idle, f.Prior = a.onConn(r)
	}
	if !r.Failed() {
		return
	}
	if h != nil {
		h.Failures++
	}
	sample := -1
	if len(a.res.Failures) < a.opts.MaxFailures {
		sample = len(a.res.Failures)
		a.res.Failures = append(a.res.Failures, f)
	} else {
		a.res.FailuresDropped++
	}
	if r.Class == ClassRaceLikely {
		var hour time.Time
		if h != nil {
			hour = h.Hour
		}
		a.likely = append(a.likely, likelyFailure{idle: f.Idle, hour: hour, sample: sample})
		return
	}
	a.res.Causes[r.Class]++
}

// onConn updates r's connection and returns its idle gap before r (-1 when
// unknown) and the requests logged on it before r. A failed request ends
// its connection: the gateway closes a connection that failed, so the
// next request on the same 4-tuple is on a new one.
func (a *Analyzer) onConn(r Record) (time.Duration, int) {
	if a.added%65536 == 0 {
		a.forgetOld()
	}
	c := a.conns[r.Conn]
	idle, prior := time.Duration(-1), 0
	end, hasEnd := r.End()
	if c == nil {
		c = &connState{}
		a.conns[r.Conn] = c
		a.res.Conns++
	} else {
		prior = c.requests
		// An idle gap is measured only between requests in order, each
		// with its start and end; a request that began before the last
		// ended (out of order, or two instances' clocks) tells none.
		if !c.lastEnd.IsZero() && !r.Time.IsZero() && !r.Time.Before(c.lastEnd) && r.Time.Sub(c.lastEnd) <= connHorizon {
			idle = r.Time.Sub(c.lastEnd)
			if s := a.opts.TimeScale; s > 0 && s != 1 {
				idle = time.Duration(float64(idle) / s)
			}
		}
	}
	c.requests++
	c.lastStart = r.Time
	c.lastEnd = time.Time{}
	if hasEnd {
		c.lastEnd = end
	}
	if r.Failed() {
		delete(a.conns, r.Conn)
	}
	return idle, prior
}

// forgetOld drops connections with no request for connHorizon.
func (a *Analyzer) forgetOld() {
	for k, c := range a.conns {
		if a.latest.Sub(c.lastStart) > connHorizon {
			delete(a.conns, k)
		}
	}
}

// Result finishes the analysis: the keep-alive, each race-likely failure
// qualified by it, the verdict.
func (a *Analyzer) Result() Result {
	res := a.res
	res.Causes = make(map[Class]int, len(a.res.Causes)+2)
	for k, v := range a.res.Causes {
		res.Causes[k] = v
	}
	res.Failures = append([]Failure(nil), a.res.Failures...)

	var idle []time.Duration
	for _, l := range a.likely {
		if l.idle >= 0 {
			idle = append(idle, l.idle)
		}
	}
	var floor time.Duration // the shortest idle gap of the race (0 = from the keep-alive)
	switch {
	case a.opts.BackendKeepAlive > 0:
		res.KeepAlive = a.opts.BackendKeepAlive
		res.KeepAliveNote = "stated (--backend-keepalive)"
	case !res.ConnsNamed:
		res.KeepAliveNote = "the log does not name the upstream connection of a request, so no idle gap can be measured: the backend's keep-alive cannot be inferred (gwsim probe measures it)"
	default:
		if shortest, ok := rule.IdleCluster(idle); ok {
			// A log's idle gap runs between two log times of the gateway,
			// which a busy gateway moves both ways (a response read late
			// ends the previous request late, a timer fired late makes the
			// backend close late): the cluster's median, not its
			// shortest, is the keep-alive; every failure in the cluster is
			// the race.
			var cluster []time.Duration
			for _, d := range idle {
				if d >= shortest {
					cluster = append(cluster, d)
				}
			}
			slices.Sort(cluster)
			res.KeepAlive, res.KeepAliveInferred = cluster[len(cluster)/2], true
			floor = shortest
			res.KeepAliveNote = fmt.Sprintf("inferred: the median idle gap of the %d failures clustered at the top of the %d measured (%s to %s)",
				len(cluster), len(idle), rule.Dur(shortest), rule.Dur(cluster[len(cluster)-1]))
		} else {
			res.KeepAliveNote = fmt.Sprintf("not inferred: %d failures with the race's signature had a measured idle gap, and fewer than 3 of them cluster at the top", len(idle))
		}
	}
	k := res.KeepAlive
	races := map[time.Time]int{}
	for _, l := range a.likely {
		class, reason := a.qualify(l.idle, k, floor, res.ConnsNamed)
		res.Causes[class]++
		if l.sample >= 0 {
			res.Failures[l.sample].Class, res.Failures[l.sample].Reason = class, reason
		}
		if !l.hour.IsZero() && class != ClassOther {
			races[l.hour]++
		}
	}
	for key, h := range a.hours {
		hh := *h
		hh.Races = races[key]
		res.ByHour = append(res.ByHour, hh)
	}
	sort.Slice(res.ByHour, func(i, j int) bool { return res.ByHour[i].Hour.Before(res.ByHour[j].Hour) })
	for k, v := range res.Causes {
		if v == 0 {
			delete(res.Causes, k)
		}
	}

	g := a.opts.Gateway
	if !g.GatewayNoReuse {
		w := g.Window
		if w <= 0 {
			w = rule.DefaultRTT + rule.DefaultTimerSlack
		}
		res.Recommended = rule.Recommend(g.GatewayIdle, w)
	}
	if k > 0 {
		s := g
		s.BackendKeepAlive = k
		res.Decision = rule.Decide(s)
		res.Verdict = string(res.Decision.Verdict)
	} else {
		res.Verdict = VerdictInconclusive
	}
	return res
}

// qualify is a race-likely failure's final class: the race when its idle
// gap fits the backend closing the connection at its keep-alive (at least
// floor: the shortest of the cluster the keep-alive was inferred from, or
// the stated keep-alive less a quarter: a log's times are the gateway's,
// moved by its own delays by tens of milliseconds on a busy gateway, where
// a capture's wire times allow a tenth), other when the gap is far shorter
// (the backend did not close it for idleness), and still race-likely when
// nothing tells.
func (a *Analyzer) qualify(idle, k, floor time.Duration, named bool) (Class, string) {
	if floor <= 0 {
		floor = k - k/4
	}
	switch {
	case !named:
		return ClassRaceLikely, "the log does not name the upstream connection: the race and a backend that crashed or reset look alike here"
	case idle < 0:
		return ClassRaceLikely, "no earlier request is logged on its connection, so its idle gap is unknown"
	case k <= 0:
		return ClassRaceLikely, fmt.Sprintf("idle %s on its connection, but the backend's keep-alive is not known", rule.Dur(idle))
	case idle >= floor:
		return ClassRace, fmt.Sprintf("idle %s on its connection, at the backend's keep-alive %s: the backend closed it as the gateway reused it", rule.Dur(idle), rule.Dur(k))
	}
	return ClassOther, fmt.Sprintf("idle only %s on its connection, far less than the backend's keep-alive %s: the backend did not close it for idleness, so it is not the keep-alive race", rule.Dur(idle), rule.Dur(k))
}
