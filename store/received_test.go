package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/report"
)

// TestReportersDaysReceived: eight reports dated over eight days but
// received at once count one day received; three received on three days
// count three; LastReceived is the latest receipt (else storage) time,
// apart from LastStored.
func TestReportersDaysReceived(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	add := func(id string, n int, storedAt, received, start time.Time) {
		s.SetClock(func() time.Time { return storedAt })
		defer s.SetClock(nil)
		r := &report.Report{OrganizationName: id, ReportID: fmt.Sprint(id, n), Start: start, End: start.Add(24*time.Hour - time.Second),
			Policies: []report.Policy{{Type: "sts", Domain: "example.net", Successful: 1}}}
		src := arrival.Source{Transport: "mail", Submitter: id, Received: received, Auth: arrival.Auth{Authenticated: true, Method: "dkim", Domain: id}}
		if _, _, err := s.AddReport(ctx, r, src); err != nil {
			t.Fatal(err)
		}
	}
	for d := 1; d <= 8; d++ {
		add("backdated.example", d, day.Add(time.Hour), day.Add(time.Hour), day.AddDate(0, 0, -d))
	}
	for d := 1; d <= 3; d++ {
		at := day.AddDate(0, 0, -d).Add(8 * time.Hour)
		add("daily.example", d, at.Add(time.Minute), at, day.AddDate(0, 0, -d-1))
	}
	add("daily.example", 4, day.Add(2*time.Hour), time.Time{}, day.AddDate(0, 0, -5)) // no receipt time: stored
	as, err := s.ReportersAsOf(ctx, day.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ReporterActivity{}
	for _, a := range as {
		got[a.Identity] = a
	}
	if b := got["backdated.example"]; b.DaysReceived != 1 || b.Days != 8 || !b.LastReceived.Equal(day.Add(time.Hour)) {
		t.Errorf("backdated: %d days received, %d days, last received %v; want 1, 8, %v", b.DaysReceived, b.Days, b.LastReceived, day.Add(time.Hour))
	}
	if d := got["daily.example"]; d.DaysReceived != 4 || !d.LastReceived.Equal(day.Add(2*time.Hour)) || !d.LastStored.Equal(day.Add(2*time.Hour)) {
		t.Errorf("daily: %d days received, last received %v, stored %v; want 4, %v", d.DaysReceived, d.LastReceived, d.LastStored, day.Add(2*time.Hour))
	}
}
