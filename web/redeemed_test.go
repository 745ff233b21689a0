package web

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/assess"
	"github.com/tlsrpt/tlsrpt/internal/storetest"
	"github.com/tlsrpt/tlsrpt/store"
)

// redeemedSection serves the page of o and returns its Redeemed section.
func redeemedSection(t *testing.T, o Options) string {
	t.Helper()
	_, body := get(t, serveDashboard(t, o).URL+"/")
	i := strings.Index(body, `<section id="redeemed">`)
	if i < 0 {
		t.Fatalf("no Redeemed section:\n%s", body)
	}
	return body[i : i+strings.Index(body[i:], "</section>")]
}

// TestRedeemedTable: a real store where google.example named 192.0.2.7,
// fail2ban unbanned it and a later signed report is clean of it: the
// table shows it confirmed, with when, the backend and the evidence; an
// empty store says so; evidence holding markup is escaped.
func TestRedeemedTable(t *testing.T) {
	st := storetest.Open(t)
	if sec := redeemedSection(t, Options{Store: st, Now: func() time.Time { return now }}); !strings.Contains(sec, "No address redeemed yet") {
		t.Errorf("empty store, no empty-state text: %s", sec)
	}
	at := now.Add(-72 * time.Hour)
	storetest.AddGoogleReport(t, st, "before", at.Add(-48*time.Hour), true, "192.0.2.7")
	storetest.Unbanned(t, st, "192.0.2.7", at)
	storetest.AddGoogleReport(t, st, "after", at.Add(time.Hour), true)
	sec := redeemedSection(t, Options{Store: st, Now: func() time.Time { return now }})
	want := `<td class="ip">192.0.2.7</td><td>` + at.UTC().Format("2006-01-02 15:04 UTC") + `</td><td>fail2ban</td><td>confirmed</td><td>google.example: no failure for this address in 1 report with 100 successful sessions (example.net)</td>`
	if !strings.Contains(sec, want) {
		t.Errorf("Redeemed section lacks\n%s\n%s", want, sec)
	}

	hostile := func(context.Context) ([]assess.Outcome, error) {
		return []assess.Outcome{{Redeemed: store.Redeemed{IP: netip.MustParseAddr("192.0.2.9"), At: at},
			Outcome: assess.OutcomeStillFailing, Why: `<script>alert("x")</script>`}}, nil
	}
	sec = redeemedSection(t, Options{Store: st, Now: func() time.Time { return now }, Redeemed: hostile})
	if strings.Contains(sec, "<script>") || !strings.Contains(sec, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("evidence not escaped: %s", sec)
	}
}
