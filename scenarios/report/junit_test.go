package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gwsim/gwsim/backend"
	"github.com/gwsim/gwsim/proxy"
	"github.com/gwsim/gwsim/scenarios"
)

// junitSchema is the JUnit XML shape (Ant/Surefire) that CI tools read,
// written out independently of junit.go's types so the test checks the
// document, not the encoder against itself.
type junitSchema struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    *int     `xml:"tests,attr"`
	Failures *int     `xml:"failures,attr"`
	Errors   *int     `xml:"errors,attr"`
	Suites   []struct {
		Name     *string `xml:"name,attr"`
		Tests    *int    `xml:"tests,attr"`
		Failures *int    `xml:"failures,attr"`
		Errors   *int    `xml:"errors,attr"`
		Time     *string `xml:"time,attr"`
		Cases    []struct {
			Name      *string `xml:"name,attr"`
			Classname *string `xml:"classname,attr"`
			Time      *string `xml:"time,attr"`
			Failure   []struct {
				Message *string `xml:"message,attr"`
				Type    string  `xml:"type,attr"`
				Text    string  `xml:",chardata"`
			} `xml:"failure"`
			Error []struct {
				Message *string `xml:"message,attr"`
			} `xml:"error"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// ParseJUnit checks data against the JUnit shape and returns it: every
// count attribute present and consistent, every testcase named, times
// numbers, at most one failure or error per testcase.
func ParseJUnit(t *testing.T, data []byte) *junitSchema {
	t.Helper()
	var doc junitSchema
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, data)
	}
	if doc.Tests == nil || doc.Failures == nil || doc.Errors == nil || len(doc.Suites) == 0 {
		t.Fatalf("testsuites lacks tests/failures/errors or a testsuite:\n%s", data)
	}
	var tests, failures, errs int
	for _, s := range doc.Suites {
		if s.Name == nil || s.Tests == nil || s.Failures == nil || s.Errors == nil || s.Time == nil {
			t.Fatalf("testsuite lacks an attribute:\n%s", data)
		}
		if _, err := strconv.ParseFloat(*s.Time, 64); err != nil {
			t.Errorf("testsuite time %q", *s.Time)
		}
		f, e := 0, 0
		for _, c := range s.Cases {
			if c.Name == nil || *c.Name == "" || c.Classname == nil || c.Time == nil {
				t.Fatalf("testcase lacks name, classname or time:\n%s", data)
			}
			if _, err := strconv.ParseFloat(*c.Time, 64); err != nil {
				t.Errorf("testcase time %q", *c.Time)
			}
			if len(c.Failure)+len(c.Error) > 1 {
				t.Errorf("%s: more than one failure/error", *c.Name)
			}
			for _, x := range c.Failure {
				if x.Message == nil || *x.Message == "" {
					t.Errorf("%s: failure without message", *c.Name)
				}
			}
			f += len(c.Failure)
			e += len(c.Error)
		}
		if *s.Tests != len(s.Cases) || *s.Failures != f || *s.Errors != e {
			t.Errorf("testsuite counts %d/%d/%d, cases %d/%d/%d", *s.Tests, *s.Failures, *s.Errors, len(s.Cases), f, e)
		}
		tests, failures, errs = tests+*s.Tests, failures+*s.Failures, errs+*s.Errors
	}
	if *doc.Tests != tests || *doc.Failures != failures || *doc.Errors != errs {
		t.Errorf("testsuites counts %d/%d/%d, suites %d/%d/%d", *doc.Tests, *doc.Failures, *doc.Errors, tests, failures, errs)
	}
	return &doc
}

func TestJUnit(t *testing.T) {
	pass, err := scenarios.Lookup("appgw-v2-backend-120s")
	if err != nil {
		t.Fatal(err)
	}
	fail, _ := scenarios.Lookup("appgw-v2-apache-default")
	p, _ := proxy.LookupProfile("appgw-v2")
	results := []*scenarios.Result{
		{Scenario: pass, Pass: true, Profile: p.Scaled(0.01), Backend: backend.Config{KeepAliveTimeout: 1200 * time.Millisecond}, TimeScale: 0.01, Requests: 52, Status: map[int]int64{200: 52}, Wall: 1500 * time.Millisecond},
		{Scenario: fail, Profile: p, TimeScale: 0.01, Requests: 52, Status: map[int]int64{200: 52},
			Failures: []string{"status 502: want >0, got 0", `cause <x> & "y"`}, Wall: time.Second},
		{Scenario: fail, Err: errors.New("listen for backend: no ports"), Wall: time.Millisecond},
	}
	var buf bytes.Buffer
	if err := JUnit(&buf, "gwsim run", results, 3*time.Second, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "<?xml") {
		t.Fatalf("no XML header:\n%s", buf.String())
	}
	doc := ParseJUnit(t, buf.Bytes())
	s := doc.Suites[0]
	if *doc.Tests != 3 || *doc.Failures != 1 || *doc.Errors != 1 || len(s.Cases) != 3 {
		t.Fatalf("counts %d/%d/%d:\n%s", *doc.Tests, *doc.Failures, *doc.Errors, buf.String())
	}
	if c := s.Cases[0]; *c.Name != "appgw-v2-backend-120s" || *c.Classname != "gwsim.appgw-v2" || *c.Time != "1.500" || len(c.Failure) != 0 {
		t.Errorf("passing case %+v", c)
	}
	if c := s.Cases[1]; len(c.Failure) != 1 || c.Failure[0].Text != "status 502: want >0, got 0\ncause <x> & \"y\"" || c.Failure[0].Type != "expectation" {
		t.Errorf("failing case %+v", c.Failure)
	}
	if c := s.Cases[2]; len(c.Error) != 1 || *c.Error[0].Message != "listen for backend: no ports" {
		t.Errorf("error case %+v", c.Error)
	}
	if !strings.Contains(s.Cases[0].SystemOut, "backend keep-alive 120 s") {
		t.Errorf("system-out %q", s.Cases[0].SystemOut)
	}
}
