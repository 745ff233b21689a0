package allowlist

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/tlsrpt/tlsrpt/internal/dnstest"
)

// Test keys, made once per run.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, ed25519.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, edKey
}

func rsaRecord(t testing.TB, extra string) string {
	k, _ := testKeys(t)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return "v=DKIM1; k=rsa; " + extra + "p=" + base64.StdEncoding.EncodeToString(der)
}

func edRecord(t testing.TB, extra string) string {
	_, k := testKeys(t)
	return "v=DKIM1; k=ed25519; " + extra + "p=" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// testRecords is the DNS world of the tests: DKIM keys of the reporters,
// SPF records, reverse DNS with and without forward confirmation.
func testRecords(t testing.TB) dnstest.Records {
	return dnstest.Records{
		TXT: map[string][]string{
			// RSA 2048: a record longer than 255 bytes, split in strings.
			"rsa._domainkey.google.com":    {rsaRecord(t, "")},
			"tlsrpt._domainkey.google.com": {rsaRecord(t, "s=tlsrpt; ")},
			"other._domainkey.google.com":  {rsaRecord(t, "s=other; ")},
			"ed._domainkey.corp.mail.ru":   {edRecord(t, "s=tlsrpt; ")},
			"rsa._domainkey.evil.example":  {rsaRecord(t, "")},
			"_spf.google.com":              {"v=spf1 include:_netblocks.google.com ip6:2001:4860:4000::/36 ~all"},
			"_netblocks.google.com":        {"v=spf1 ip4:209.85.128.0/17 ~all"},
			"_spf.mail.ru":                 {"v=spf1 ip4:217.69.128.0/20 a:smtp.mail.ru -all"},
			"mail.ru":                      {"v=spf1 redirect=_spf.mail.ru"},
			"google.com":                   {"google-site-verification=abc", "v=spf1 include:_spf.google.com ~all"},
		},
		PTR: map[string][]string{
			"209.85.220.41": {"mail-sor-f41.google.com"},
			// forward lookup of mail.google.com does not return 192.0.2.10
			"192.0.2.10": {"mail.google.com"},
			// confirmed, but not under google.com on a label boundary
			"192.0.2.20": {"mx.evilgoogle.com"},
			// confirmed under google.com, outside Google's SPF
			"198.51.100.7": {"relay7.google.com"},
		},
		Host: map[string][]string{
			"mail-sor-f41.google.com": {"209.85.220.41"},
			"mail.google.com":         {"192.0.2.99"},
			"mx.evilgoogle.com":       {"192.0.2.20"},
			"relay7.google.com":       {"198.51.100.7", "2001:db8::7"},
			"smtp.mail.ru":            {"94.100.180.10"},
		},
	}
}

// reportMessage is a small TLS report message from submitter.
func reportMessage(from, submitter string) []byte {
	msg := fmt.Sprintf(`From: TLS reporting <noreply-smtp-tls-reporting@%s>
To: tlsrpt@example.net
Subject: Report Domain: example.net Submitter: %s Report-ID: <2026.11.22T00.00.00Z+example.net@%s>
Date: Mon, 23 Nov 2026 03:10:06 -0700
Message-ID: <tlsrpt-test@%s>
TLS-Report-Domain: example.net
TLS-Report-Submitter: %s
MIME-Version: 1.0
Content-Type: multipart/report; boundary="b1"; report-type="tlsrpt"

--b1
Content-Type: text/plain; charset="UTF-8"

This is an aggregate TLS report from %s

--b1
Content-Type: application/tlsrpt+gzip; name="%s!example.net!1795392000!1795478399.json.gz"
Content-Disposition: attachment; filename="%s!example.net!1795392000!1795478399.json.gz"
Content-Transfer-Encoding: base64

H4sIAAAAAAAAA6tWKkktLlGyUlAqS8wpTVWqBQBLLDI9EgAAAA==

--b1--
`, from, submitter, from, from, submitter, from, submitter, submitter)
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}

// sign signs msg with go-msgauth as domain with selector, ed25519 when the
// selector starts with "ed", RSA otherwise.
func sign(t testing.TB, msg []byte, domain, selector string, expires time.Time) []byte {
	t.Helper()
	rk, ek := testKeys(t)
	var signer crypto.Signer = rk
	if strings.HasPrefix(selector, "ed") {
		signer = ek
	}
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: signer, Expiration: expires,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             []string{"from", "to", "subject", "date", "message-id", "tls-report-domain", "tls-report-submitter"},
	})
	if err != nil {
		t.Fatalf("signing as %s: %v", domain, err)
	}
	return out.Bytes()
}

// signWithLength signs msg with RSA as domain, selector "rsa", computed
// here because go-msgauth never signs with l=: relaxed/relaxed, the body
// hash covering only the first bodyLen bytes of the canonical body when
// bodyLen >= 0. With bodyLen < 0 it makes an ordinary signature, which shows
// that this signer is right.
func signWithLength(t testing.TB, msg []byte, domain string, bodyLen int) []byte {
	t.Helper()
	rk, _ := testKeys(t)
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("message without body")
	}
	cbody := relaxedBody(body)
	lTag := ""
	if bodyLen >= 0 {
		cbody = cbody[:bodyLen]
		lTag = fmt.Sprintf(" l=%d;", bodyLen)
	}
	bh := sha256.Sum256(cbody)
	keys := []string{"from", "subject", "tls-report-submitter"}
	sigField := fmt.Sprintf("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=rsa;%s h=%s; bh=%s; b=",
		domain, lTag, strings.Join(keys, ":"), base64.StdEncoding.EncodeToString(bh[:]))
	h := sha256.New()
	fields := unfoldFields(string(head) + "\r\n")
	for _, k := range keys {
		for i := len(fields) - 1; i >= 0; i-- { // the last instance first
			name, _, _ := strings.Cut(fields[i], ":")
			if strings.EqualFold(strings.TrimSpace(name), k) {
				h.Write([]byte(relaxedHeader(fields[i]) + "\r\n"))
				break
			}
		}
	}
	h.Write([]byte(relaxedHeader(sigField)))
	sig, err := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	signed := sigField + base64.StdEncoding.EncodeToString(sig) + "\r\n"
	return append([]byte(signed), msg...)
}

var wsp = regexp.MustCompile(`[ \t]+`)

func unfoldFields(head string) []string {
	var fields []string
	for _, line := range strings.SplitAfter(head, "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line
			continue
		}
		fields = append(fields, line)
	}
	for i := range fields {
		fields[i] = strings.TrimSuffix(fields[i], "\r\n")
	}
	return fields
}

func relaxedHeader(field string) string {
	name, value, _ := strings.Cut(field, ":")
	value = strings.ReplaceAll(value, "\r\n", "")
	value = strings.TrimSpace(wsp.ReplaceAllString(value, " "))
	return strings.ToLower(strings.TrimSpace(name)) + ":" + value
}

func relaxedBody(body []byte) []byte {
	lines := strings.Split(string(body), "\r\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(wsp.ReplaceAllString(l, " "), " ")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return []byte("\r\n")
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}
