package store

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// The genuine report of these tests: Google's, signed by google.com,
// naming two of Google's addresses.
const googleReportID = "2026-11-20T00:00:00Z_example.net"

var googleIPs = []string{"209.85.220.41", "2607:f8b0:4864:20::b2a"}

func genuineGoogle() (*report.Report, arrival.Source) {
	r := mkReport("Google Inc.", googleReportID, 20,
		detail(googleIPs[0], "certificate-expired", 3),
		detail(googleIPs[1], "certificate-expired", 2))
	return r, arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com",
		MessageID: "<genuine@google.com>",
		Auth:      arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim=pass d=google.com"}}
}

// forged claims Google's organization-name and report-id, naming the
// attacker's own address instead of Google's.
func forged() *report.Report {
	return mkReport("Google Inc.", googleReportID, 20, detail("203.0.113.66", "certificate-expired", 50))
}

// reviewHas checks through Failing and EvidenceAll (what review reads)
// that each of ips is listed, with evidence from googleReportID
// authenticated by domain.
func reviewHas(t *testing.T, s *Store, domain string, ips ...string) {
	t.Helper()
	ctx := t.Context()
	fs := mustFailing(t, s, time.Time{})
	ev, err := s.EvidenceAll(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		a := netip.MustParseAddr(ip)
		if !slices.ContainsFunc(fs, func(f FailingAddress) bool { return f.IP == a }) {
			t.Errorf("review does not list %s: %v", ip, fs)
		}
		if !slices.ContainsFunc(ev[a], func(e Evidence) bool {
			return e.ReportID == googleReportID && e.Auth.Authenticated && e.Auth.Domain == domain
		}) {
			t.Errorf("evidence for %s has no report %q authenticated by %s: %+v", ip, googleReportID, domain, ev[a])
		}
	}
}

// reviewLacks checks that review does not list ip at all.
func reviewLacks(t *testing.T, s *Store, ip string) {
	t.Helper()
	ctx := t.Context()
	fs := mustFailing(t, s, time.Time{})
	a := netip.MustParseAddr(ip)
	if slices.ContainsFunc(fs, func(f FailingAddress) bool { return f.IP == a }) {
		t.Errorf("review lists %s: %v", ip, fs)
	}
	if ev, err := s.Evidence(ctx, a); err != nil || len(ev) != 0 {
		t.Errorf("evidence for %s: %+v, %v; want none", ip, ev, err)
	}
}

// TestDedupAttacks stores the genuine signed report and an attacker's
// copy claiming the same organization-name and report-id, in both orders:
// the genuine report's addresses are always reviewed with Google's
// authentication.
func TestDedupAttacks(t *testing.T) {
	type outcome int
	const (
		apart    outcome = iota // both stored
		replaced                // the attacker's copy is dropped for the genuine one
	)
	for _, tc := range []struct {
		name   string
		report func() *report.Report
		src    arrival.Source
		want   outcome
	}{
		{"unsigned, claims google.com as submitter", forged,
			arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "google.com", Auth: arrival.Auth{Detail: "no signature"}}, replaced},
		{"unsigned, From google.com only", forged,
			arrival.Source{Transport: "mail", FromDomain: "google.com", Auth: arrival.Auth{Detail: "no signature"}}, replaced},
		{"unsigned, submitter evil.example", forged,
			arrival.Source{Transport: "mail", Submitter: "evil.example", Auth: arrival.Auth{Detail: "no signature"}}, apart},
		{"https, no submitter", forged,
			arrival.Source{Transport: "https", Auth: arrival.Auth{Detail: "https"}}, apart},
		{"signed by evil.example", forged,
			arrival.Source{Transport: "mail", Submitter: "google.com", FromDomain: "evil.example",
				Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "evil.example"}}, apart},
		{"authres for evil.example", forged,
			arrival.Source{Transport: "mail", Submitter: "google.com",
				Auth: arrival.Auth{Authenticated: true, Method: "authres", Domain: "EVIL.example."}}, apart},
		{"signed by evil.example, word for word", func() *report.Report { r, _ := genuineGoogle(); return r },
			arrival.Source{Transport: "mail", Submitter: "evil.example",
				Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "evil.example"}}, apart},
		{"signed by a google.com subdomain", forged,
			arrival.Source{Transport: "mail", Submitter: "google.com",
				Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "mail.google.com"}}, apart},
	} {
		for _, attackerFirst := range []bool{true, false} {
			name := tc.name + "/genuine first"
			if attackerFirst {
				name = tc.name + "/attacker first"
			}
			t.Run(name, func(t *testing.T) {
				s := openTemp(t)
				ctx := t.Context()
				g, gsrc := genuineGoogle()
				steps := []struct {
					r   *report.Report
					src arrival.Source
				}{{g, gsrc}, {tc.report(), tc.src}}
				if attackerFirst {
					steps[0], steps[1] = steps[1], steps[0]
				}
				var keys []int64
				for _, st := range steps {
					id, _, err := s.AddReport(ctx, st.r, st.src)
					if err != nil {
						t.Fatal(err)
					}
					keys = append(keys, id)
				}
				reviewHas(t, s, "google.com", googleIPs...)
				st, err := s.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				switch tc.want {
				case apart:
					if st.Reports != 2 || keys[0] == keys[1] {
						t.Errorf("%d reports stored (keys %v), want both apart", st.Reports, keys)
					}
				case replaced:
					if st.Reports != 1 {
						t.Errorf("%d reports stored, want only the genuine one", st.Reports)
					}
					reviewLacks(t, s, "203.0.113.66")
				}
				// The genuine report reads back with its own source.
				gkey := keys[0]
				if attackerFirst {
					gkey = keys[1]
				}
				if _, got, err := s.Report(ctx, gkey); err != nil || got != gsrc {
					t.Errorf("genuine report reads back as %+v, %v", got, err)
				}
			})
		}
	}
}

// TestDedupNextReportID is the report-id squatting attack: a report signed by
// evil.example claims "Google Inc." and the report-id of Google's next
// report before Google sends it.
func TestDedupNextReportID(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	evil := arrival.Source{Transport: "mail", Submitter: "evil.example", FromDomain: "evil.example",
		Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: "evil.example"}}
	if _, dup, err := s.AddReport(ctx, forged(), evil); err != nil || dup {
		t.Fatalf("evil.example's report: dup %v, %v", dup, err)
	}
	g, gsrc := genuineGoogle()
	if _, dup, err := s.AddReport(ctx, g, gsrc); err != nil || dup {
		t.Fatalf("Google's report after evil.example's claim: dup %v, %v; want stored", dup, err)
	}
	reviewHas(t, s, "google.com", googleIPs...)
	// Google's copy delivered again is a duplicate, and so is evil's.
	for _, c := range []struct {
		r   *report.Report
		src arrival.Source
	}{{g, gsrc}, {forged(), evil}} {
		if _, dup, err := s.AddReport(ctx, c.r, c.src); err != nil || !dup {
			t.Errorf("second delivery of %s's: dup %v, %v", c.src.Auth.Domain, dup, err)
		}
	}
}

// TestDedupSameReport covers the copies that are the same report: the
// same reporter's, and word-for-word copies from anywhere.
func TestDedupSameReport(t *testing.T) {
	ctx := t.Context()
	g, gsrc := genuineGoogle()
	https := arrival.Source{Transport: "https", Auth: arrival.Auth{Detail: "https"}}
	imported := arrival.Source{Transport: "import", Auth: arrival.Auth{Detail: "imported from a file"}}
	plain := arrival.Source{Transport: "mail", Submitter: "Google.COM.", Auth: arrival.Auth{Detail: "no signature"}}

	t.Run("https and file copies, then the signed one", func(t *testing.T) {
		s := openTemp(t)
		id1, dup, err := s.AddReport(ctx, g, https)
		if err != nil || dup {
			t.Fatal(dup, err)
		}
		id2, dup, err := s.AddReport(ctx, g, imported)
		if err != nil || !dup || id2 != id1 {
			t.Fatalf("file copy of the https report: key %d (want %d), dup %v, %v", id2, id1, dup, err)
		}
		id3, dup, err := s.AddReport(ctx, g, gsrc)
		if err != nil || !dup {
			t.Fatalf("signed copy: dup %v, %v; want it to replace the unsigned one", dup, err)
		}
		st, _ := s.Stats(ctx)
		if st.Reports != 1 {
			t.Errorf("%d reports, want 1", st.Reports)
		}
		if _, got, err := s.Report(ctx, id3); err != nil || got != gsrc {
			t.Errorf("stored source %+v, %v; want the signed one", got, err)
		}
		fs, _ := s.Failing(ctx, time.Time{})
		if len(fs) != 2 || fs[0].FailedSessions != 3 || fs[0].Reports != 1 {
			t.Errorf("Failing = %+v; want Google's two addresses counted once", fs)
		}
	})
	t.Run("same claimed submitter, other case and dot", func(t *testing.T) {
		s := openTemp(t)
		if _, _, err := s.AddReport(ctx, forged(), plain); err != nil {
			t.Fatal(err)
		}
		// Another unsigned copy claiming google.com: a duplicate, whatever
		// it says.
		if _, dup, err := s.AddReport(ctx, g, arrival.Source{Submitter: "google.com"}); err != nil || !dup {
			t.Fatalf("second unsigned copy: dup %v, %v", dup, err)
		}
		if _, dup, err := s.AddReport(ctx, g, gsrc); err != nil || !dup {
			t.Fatalf("signed copy: dup %v, %v", dup, err)
		}
		reviewHas(t, s, "google.com", googleIPs...)
		reviewLacks(t, s, "203.0.113.66")
	})
	t.Run("another organization-name is another report", func(t *testing.T) {
		s := openTemp(t)
		if _, _, err := s.AddReport(ctx, g, gsrc); err != nil {
			t.Fatal(err)
		}
		other := *g
		other.OrganizationName = "Google LLC"
		if _, dup, err := s.AddReport(ctx, &other, gsrc); err != nil || dup {
			t.Errorf("same reporter and report-id, other organization-name: dup %v, %v", dup, err)
		}
	})
}

func TestAddReportAuthWithoutDomain(t *testing.T) {
	s := openTemp(t)
	g, _ := genuineGoogle()
	for _, dom := range []string{"", " ", "."} {
		_, _, err := s.AddReport(t.Context(), g, arrival.Source{Submitter: "google.com",
			Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: dom}})
		if !errors.Is(err, ErrAuth) || strings.Count(err.Error(), "store:") != 1 {
			t.Errorf("authenticated, domain %q: error %v, want ErrAuth with one store: prefix", dom, err)
		}
	}
	if st, _ := s.Stats(t.Context()); st.Reports != 0 {
		t.Errorf("%d reports stored, want none", st.Reports)
	}
}

func TestReporterOf(t *testing.T) {
	for _, tc := range []struct {
		org  string
		src  arrival.Source
		want string
	}{
		{"Google Inc.", arrival.Source{Submitter: "x.example", Auth: arrival.Auth{Authenticated: true, Domain: "Google.com."}}, "google.com"},
		{"Google Inc.", arrival.Source{Submitter: "x.example", Auth: arrival.Auth{Domain: "google.com"}}, "x.example"},
		{"Google Inc.", arrival.Source{FromDomain: " Y.example "}, "y.example"},
		{"Google Inc.", arrival.Source{}, "google inc"},
		{"", arrival.Source{}, ""},
	} {
		if got := reporterOf(tc.org, tc.src); got != tc.want {
			t.Errorf("reporterOf(%q, %+v) = %q, want %q", tc.org, tc.src, got, tc.want)
		}
	}
}

// TestDigest: a report's digest covers every stored field, so that only
// a word-for-word copy shares it.
func TestDigest(t *testing.T) {
	g, _ := genuineGoogle()
	base := digestOf(g)
	if again, _ := genuineGoogle(); digestOf(again) != base {
		t.Fatal("digest differs between equal reports")
	}
	for i, change := range []func(r *report.Report){
		func(r *report.Report) { r.OrganizationName += " " },
		func(r *report.Report) { r.ReportID += "x" },
		func(r *report.Report) { r.ContactInfo = "x" },
		func(r *report.Report) { r.Start = r.Start.Add(time.Second) },
		func(r *report.Report) { r.End = r.End.Add(time.Second) },
		func(r *report.Report) { r.Policies[0].Type = "tlsa" },
		func(r *report.Report) { r.Policies[0].Domain = "x" },
		func(r *report.Report) { r.Policies[0].Strings = r.Policies[0].Strings[1:] },
		func(r *report.Report) { r.Policies[0].MXHosts = nil },
		func(r *report.Report) { r.Policies[0].Successful++ },
		func(r *report.Report) { r.Policies[0].Failed++ },
		func(r *report.Report) { r.Policies[0].Details[0].ResultType = "x" },
		func(r *report.Report) { r.Policies[0].Details[0].SendingMTAIP = netip.Addr{} },
		func(r *report.Report) { r.Policies[0].Details[0].ReceivingMXHostname = "x" },
		func(r *report.Report) { r.Policies[0].Details[0].ReceivingMXHelo = "x" },
		func(r *report.Report) { r.Policies[0].Details[0].ReceivingIP = netip.Addr{} },
		func(r *report.Report) { r.Policies[0].Details[0].FailedSessions++ },
		func(r *report.Report) { r.Policies[0].Details[0].FailureReasonCode = "x" },
		func(r *report.Report) { r.Policies[0].Details[0].AdditionalInformation = "x" },
		func(r *report.Report) { r.Policies[0].Details = r.Policies[0].Details[:1] },
		func(r *report.Report) { r.Policies = append(r.Policies, report.Policy{Type: "no-policy-found"}) },
		// Moving a detail to another policy changes the structure.
		func(r *report.Report) {
			r.Policies = append(r.Policies, report.Policy{Type: "sts", Domain: "example.net",
				Strings: r.Policies[0].Strings, MXHosts: r.Policies[0].MXHosts})
			r.Policies[1].Details = r.Policies[0].Details[1:]
			r.Policies[0].Details = r.Policies[0].Details[:1]
		},
	} {
		r, _ := genuineGoogle()
		change(r)
		if digestOf(r) == base {
			t.Errorf("change %d left the digest as it was", i)
		}
	}
	// Field boundaries count: "ab"+"c" is not "a"+"bc".
	a, b := mkReport("Org", "ab", 1), mkReport("Org", "a", 1)
	a.ContactInfo, b.ContactInfo = "c", "bc"
	if digestOf(a) == digestOf(b) {
		t.Error("digest ignores field boundaries")
	}
	// The mapped and plain forms of an address are the same stored report.
	m := mkReport("Org", "1", 1, detail("::ffff:192.0.2.1", "validation-failure", 1))
	p := mkReport("Org", "1", 1, detail("192.0.2.1", "validation-failure", 1))
	if digestOf(m) != digestOf(p) {
		t.Error("digest differs between mapped and plain addresses")
	}
}
