package allowlist

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/arrival"
	"github.com/tlsrpt/tlsrpt/internal/dnstest"
	"github.com/tlsrpt/tlsrpt/internal/testenv"
)

var google = Reporter{Submitter: "google.com", ContactInfo: "smtp-tls-reporting@google.com"}

// arPass is a DKIM pass for google.com from our own authserv-id.
const arPass = "Authentication-Results: mx.example.net; dkim=pass header.d=google.com header.s=rsa\r\n"

func TestAuthenticate(t *testing.T) {
	addr := dnstest.Start(t, testRecords(t))
	v := &Verifier{Resolver: &Resolver{Server: addr}, TrustAuthservIDs: []string{"mx.example.net"}}
	msg := reportMessage("google.com", "google.com")
	mailru := reportMessage("corp.mail.ru", "mail.ru")
	banner := []byte("\r\n-- \r\nScanned by GatewayGuard, have a safe day\r\n")
	arForeign := "Authentication-Results: mx.evil.example; dkim=pass header.d=google.com header.s=rsa\r\n"
	received := "Received: from mail-sor-f41.google.com by mx.example.net; Mon, 23 Nov 2026 10:10:07 +0000\r\n"

	tests := []struct {
		name     string
		raw      []byte
		reporter Reporter
		noDKIM   bool
		want     arrival.Auth
	}{
		{"rsa signature by the submitter", sign(t, msg, "google.com", "rsa", time.Time{}), google,
			false, arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com matches reporter google.com"}},
		{"key declaring s=tlsrpt", sign(t, msg, "google.com", "tlsrpt", time.Time{}), google,
			false, arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com matches reporter google.com"}},
		{"key for another service", sign(t, msg, "google.com", "other", time.Time{}), google,
			false, arrival.Auth{Detail: "dkim fail d=google.com: inappropriate service"}},
		{"Mail.ru signs as corp.mail.ru with ed25519", sign(t, mailru, "corp.mail.ru", "ed", time.Time{}),
			Reporter{Submitter: "mail.ru", ContactInfo: "tlsrpt-noreply@corp.mail.ru"},
			false, arrival.Auth{Authenticated: true, Method: "dkim", Domain: "corp.mail.ru", Detail: "dkim pass d=corp.mail.ru matches reporter mail.ru"}},
		{"organization name as submitter, contact-info URL", sign(t, msg, "google.com", "rsa", time.Time{}),
			Reporter{Submitter: "Google Inc.", ContactInfo: "https://support.google.com/a/answer/9276511"},
			false, arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com matches reporter google.com"}},
		{"From domain only when nothing else names one", sign(t, msg, "google.com", "rsa", time.Time{}),
			Reporter{Submitter: "Google", FromDomain: "google.com"},
			false, arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com matches reporter google.com"}},
		{"no signature", msg, google,
			false, arrival.Auth{Detail: "no DKIM signature"}},
		{"signature by another domain", sign(t, msg, "evil.example", "rsa", time.Time{}), google,
			false, arrival.Auth{Detail: "dkim pass d=evil.example does not match reporter google.com"}},
		{"From domain ignored when the submitter is a domain", sign(t, msg, "evil.example", "rsa", time.Time{}),
			Reporter{Submitter: "google.com", FromDomain: "evil.example"},
			false, arrival.Auth{Detail: "dkim pass d=evil.example does not match reporter google.com"}},
		{"gateway banner breaks the body hash", append(sign(t, msg, "google.com", "rsa", time.Time{}), banner...), google,
			false, arrival.Auth{Detail: "dkim fail d=google.com: body hash did not verify"}},
		{"expired signature", sign(t, msg, "google.com", "rsa", time.Now().Add(-time.Minute)), google,
			false, arrival.Auth{Detail: "dkim fail d=google.com: signature has expired"}},
		{"no key published for the selector", sign(t, msg, "google.com", "nokey", time.Time{}), google,
			false, arrival.Auth{Detail: "dkim fail d=google.com: no key for signature: lookup nokey._domainkey.google.com. on " + addr + ": no such host"}},
		{"hand-made signature without l=", signWithLength(t, msg, "google.com", -1), google,
			false, arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com matches reporter google.com"}},
		{"signature with l=", append(signWithLength(t, msg, "google.com", 200), banner...), google,
			false, arrival.Auth{Detail: "dkim fail d=google.com: message contains an insecure body length tag"}},
		{"authres pass from our authserv-id", append([]byte(arPass+received), msg...), google,
			false, arrival.Auth{Authenticated: true, Method: "authres", Domain: "google.com", Detail: "authres mx.example.net: dkim=pass d=google.com matches reporter google.com"}},
		{"authres pass from a foreign authserv-id", append([]byte(arForeign+received), msg...), google,
			false, arrival.Auth{Detail: "no DKIM signature; authres from untrusted authserv-id mx.evil.example ignored"}},
		{"authres with our id below our hop (forged)",
			append([]byte("Authentication-Results: mx.example.net; dkim=none\r\n"+received+arPass), msg...), google,
			false, arrival.Auth{Detail: "no DKIM signature; authres mx.example.net: dkim=none d="}},
		{"authres for another domain", append([]byte(strings.Replace(arPass, "header.d=google.com", "header.d=evil.example", 1)), msg...), google,
			false, arrival.Auth{Detail: "no DKIM signature; authres mx.example.net: dkim=pass d=evil.example does not match reporter google.com"}},
		{"--no-dkim skips a valid signature", sign(t, msg, "google.com", "rsa", time.Time{}), google,
			true, arrival.Auth{Detail: "DKIM not verified (--no-dkim) and no trusted Authentication-Results"}},
		{"--no-dkim with our authres", append([]byte(arPass), msg...), google,
			true, arrival.Auth{Authenticated: true, Method: "authres", Domain: "google.com", Detail: "authres mx.example.net: dkim=pass d=google.com matches reporter google.com"}},
		{"no reporter domain", sign(t, msg, "google.com", "rsa", time.Time{}), Reporter{Submitter: "Google"},
			false, arrival.Auth{Detail: `no reporter domain (submitter "Google", contact-info "")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := *v
			v.NoDKIM = tt.noDKIM
			got := v.Authenticate(t.Context(), tt.raw, tt.reporter)
			if got != tt.want {
				t.Errorf("Authenticate =\n\t%+v\nwant\n\t%+v", got, tt.want)
			}
		})
	}
}

func TestAuthenticateOurClock(t *testing.T) {
	addr := dnstest.Start(t, testRecords(t))
	raw := sign(t, reportMessage("google.com", "google.com"), "google.com", "rsa", time.Now().Add(time.Hour))
	v := &Verifier{Resolver: &Resolver{Server: addr}}
	if a := v.Authenticate(t.Context(), raw, google); !a.Authenticated {
		t.Fatalf("signature valid for an hour: %+v", a)
	}
	v.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	a := v.Authenticate(t.Context(), raw, google)
	if a.Authenticated || a.Detail != "dkim fail d=google.com: signature has expired" {
		t.Errorf("two hours later: %+v; want expired", a)
	}
}

// TestAuthenticateCorpusGoogle re-signs a real Google report, whose own
// signature cannot verify here, and reads its real Authentication-Results.
func TestAuthenticateCorpusGoogle(t *testing.T) {
	addr := dnstest.Start(t, testRecords(t))
	orig, err := os.ReadFile("../testdata/corpus/02-mox-google-2022.eml")
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Resolver: &Resolver{Server: addr}}
	a := v.Authenticate(t.Context(), orig, google)
	if a.Authenticated || !strings.Contains(a.Detail, "dkim fail d=google.com: no key for signature") ||
		!strings.Contains(a.Detail, "authres from untrusted authserv-id komijn.test.xmox.nl ignored") {
		t.Errorf("original, no trusted id: %+v", a)
	}
	v.TrustAuthservIDs = []string{"komijn.test.xmox.nl"}
	a = v.Authenticate(t.Context(), orig, google)
	if !a.Authenticated || a.Method != "authres" || a.Domain != "google.com" {
		t.Errorf("original, trusting komijn.test.xmox.nl: %+v", a)
	}

	stripped := regexp.MustCompile(`(?m)^DKIM-Signature:.*\r\n([ \t].*\r\n)*`).ReplaceAll(orig, nil)
	if bytes.Equal(stripped, orig) || bytes.Contains(stripped, []byte("\nDKIM-Signature:")) {
		t.Fatal("DKIM-Signature not stripped")
	}
	v.TrustAuthservIDs = nil
	a = v.Authenticate(t.Context(), sign(t, stripped, "google.com", "tlsrpt", time.Time{}), google)
	want := arrival.Auth{Authenticated: true, Method: "dkim", Domain: "google.com", Detail: "dkim pass d=google.com matches reporter google.com"}
	if a != want {
		t.Errorf("re-signed corpus message: %+v, want %+v", a, want)
	}
}

// TestAuthenticateDNSDown: with the DNS server down (its port refuses) or
// silent (it takes queries and never answers), the key is unavailable and
// the message is not authenticated. The per-query time-out is an hour, so
// against the silent server only the 400ms budget can end the wait: a
// verifier that ignored its budget would still be waiting when
// testenv.Returns gives up.
func TestAuthenticateDNSDown(t *testing.T) {
	raw := sign(t, reportMessage("google.com", "google.com"), "google.com", "rsa", time.Time{})
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, server := range []string{dnstest.Down(t), silent.LocalAddr().String()} {
		v := &Verifier{Resolver: &Resolver{Server: server, Timeout: time.Hour, Budget: 400 * time.Millisecond}}
		var a arrival.Auth
		testenv.Returns(t, "Authenticate against "+server+" with a 400ms budget", func() {
			a = v.Authenticate(t.Context(), raw, google)
		})
		if a.Authenticated || !strings.Contains(a.Detail, "key unavailable") {
			t.Errorf("server %s: %+v; want not authenticated, key unavailable", server, a)
		}
		t.Logf("server %s: %s", server, a.Detail)
	}
}

// TestStringRules checks the small string rules of authentication, each
// on its own inputs: the DKIM key's service types, the domain of a
// contact-info, the host that added a Received field.
func TestStringRules(t *testing.T) {
	for _, rule := range []struct {
		name  string
		f     func(string) string
		cases map[string]string
	}{
		{"acceptTLSRPTService", acceptTLSRPTService, map[string]string{
			"v=DKIM1; k=rsa; s=tlsrpt; p=AB==":   "v=DKIM1; k=rsa; s=tlsrpt:email; p=AB==",
			"v=DKIM1; s = email:TLSRPT ; p=AB==": "v=DKIM1; s = email:TLSRPT :email; p=AB==",
			"v=DKIM1; s=email; p=AB==":           "v=DKIM1; s=email; p=AB==",
			"v=DKIM1; n=s=tlsrpt; p=AB==":        "v=DKIM1; n=s=tlsrpt; p=AB==",
			"v=DKIM1; s=other; p=AB==":           "v=DKIM1; s=other; p=AB==",
		}},
		{"contactDomain", contactDomain, map[string]string{
			"smtp-tls-reporting@google.com":               "google.com",
			"mailto:tlsrpt@corp.mail.ru":                  "corp.mail.ru",
			"https://support.google.com/a/answer/9276511": "support.google.com",
			"microsoft.com":                               "microsoft.com",
			"":                                            "",
		}},
		{"receivedBy", receivedBy, map[string]string{
			"from a.example (a.example [192.0.2.1]) by MX.Example.NET. (Postfix) with ESMTPS id X; Mon, 1 Jan 2026": "mx.example.net",
			"from a (helo by evil.example) by mx.example.net; date":                                                 "mx.example.net",
			"from a.example; Mon, 1 Jan 2026 by x":                                                                  "",
			"by\r\n\tmx.example.net with LMTP; date":                                                                "mx.example.net",
			"(by nested (by deeper) x) from a":                                                                      "",
		}},
	} {
		for in, want := range rule.cases {
			if got := rule.f(in); got != want {
				t.Errorf("%s(%q) = %q, want %q", rule.name, in, got, want)
			}
		}
	}
}

// TestAuthresBelowForeignHop attacks the Authentication-Results rule: a
// field with our authserv-id written by the sender, below a Received field
// added by a host that is not ours, never counts, however it reads; the
// same field under our own hops does.
func TestAuthresBelowForeignHop(t *testing.T) {
	msg := reportMessage("google.com", "google.com")
	ourHop := "Received: from mx.example.net by mailbox.example.net; Mon, 23 Nov 2026 10:10:08 +0000\r\n"
	theirHop := "Received: from attacker.example (helo by mx.example.net) by relay.attacker.example; Mon, 23 Nov 2026 10:10:06 +0000\r\n"
	noBy := "Received: from attacker.example; Mon, 23 Nov 2026 10:10:06 +0000\r\n"
	tests := []struct {
		name  string
		hosts []string
		head  string
		want  bool
	}{
		{"forged field under a foreign hop", nil, theirHop + arPass, false},
		{"forged field under our hop and a foreign one", []string{"mailbox.example.net"}, ourHop + theirHop + arPass, false},
		{"forged field under a Received without by", nil, noBy + arPass, false},
		{"our field under our own delivery hop", []string{"mailbox.example.net"}, ourHop + arPass + theirHop, true},
		{"our delivery hop not named: not believed", nil, ourHop + arPass + theirHop, false},
		{"our field on top", nil, arPass + theirHop, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Verifier{NoDKIM: true, TrustAuthservIDs: []string{"mx.example.net"}, TrustHosts: tt.hosts}
			a := v.Authenticate(t.Context(), append([]byte(tt.head), msg...), google)
			if a.Authenticated != tt.want {
				t.Fatalf("authenticated = %v, want %v (%s)", a.Authenticated, tt.want, a.Detail)
			}
			if !tt.want && tt.name != "our delivery hop not named: not believed" && !strings.Contains(a.Detail, "foreign host") {
				t.Fatalf("detail does not say why: %s", a.Detail)
			}
		})
	}
}

// TestHeaderTooLarge checks the bound that keeps go-msgauth's quadratic
// header reader away from huge folded fields, and that a message over it is
// not authenticated by DKIM (and says why).
func TestHeaderTooLarge(t *testing.T) {
	msg := reportMessage("google.com", "google.com")
	if why := headerTooLarge(msg); why != "" {
		t.Fatalf("an ordinary report message is too large: %s", why)
	}
	folded := "X-Fold: a\r\n" + strings.Repeat(" b\r\n", maxFieldBytes/4+1)
	if why := headerTooLarge(append([]byte(folded), msg...)); !strings.Contains(why, "header field") {
		t.Fatalf("a folded field of %d bytes passes: %q", len(folded), why)
	}
	many := strings.Repeat("X-Many: "+strings.Repeat("c", 1000)+"\r\n", maxHeaderBytes/1000+1)
	if why := headerTooLarge(append([]byte(many), msg...)); !strings.Contains(why, "header longer") {
		t.Fatalf("a header of %d bytes passes: %q", len(many), why)
	}
	body := append(append([]byte{}, msg...), strings.Repeat(" folded-looking body line\r\n", 20000)...)
	if why := headerTooLarge(body); why != "" {
		t.Fatalf("the body counts as header: %s", why)
	}
	v := &Verifier{Resolver: &Resolver{Server: "127.0.0.1:9"}}
	a := v.Authenticate(t.Context(), append([]byte(folded), msg...), google)
	if a.Authenticated || !strings.Contains(a.Detail, "dkim not verified: a header field longer") {
		t.Fatalf("got %+v", a)
	}
}

// BenchmarkAuthenticateFolded measures authentication of a message whose
// header holds one field folded over many lines: linear in the size,
// because such a header never reaches go-msgauth's quadratic reader.
func BenchmarkAuthenticateFolded(b *testing.B) {
	msg := reportMessage("google.com", "google.com")
	for _, kb := range []int{150, 300, 600} {
		b.Run(fmt.Sprintf("kb=%d", kb), func(b *testing.B) {
			raw := append([]byte("X-Folded: a\r\n"+strings.Repeat(" folded line\r\n", kb<<10/14)), msg...)
			v := &Verifier{Resolver: &Resolver{Server: "127.0.0.1:9"}}
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				v.Authenticate(b.Context(), raw, google)
			}
		})
	}
}
