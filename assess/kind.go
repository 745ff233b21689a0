package assess

import "github.com/tlsrpt/tlsrpt/probe"

// Kinds of failure, as Kind says them.
const (
	KindBan      = "ban"      // a ban on this host explains the result types: see BANNED and tlsrpt redeem
	KindDiagnose = "diagnose" // no ban explains them: the MX, its certificate, MTA-STS or DANE does; tlsrpt diagnose probes it
	KindBoth     = "both"     // some of each
	KindUnknown  = "-"        // only result types outside RFC 8460's registry
)

// banTypes are the result types a refused or dropped connection gives a
// sender: what a ban of its address on our MX looks like in a report.
var banTypes = map[string]bool{
	probe.StartTLSNotSupported: true,
	probe.ValidationFailure:    true,
}

// Kind says whether a ban can explain failures of these result types:
// a sender that got a certificate, a policy or TLSA records to judge got
// through, so certificate, MTA-STS and DANE failures are not a ban's
// doing; a connection refused or dropped is reported as
// starttls-not-supported or validation-failure, which a ban explains
// (and so can a broken STARTTLS: diagnose tells them apart).
func Kind(resultTypes []string) string {
	ban, other := false, false
	for _, t := range resultTypes {
		switch _, known := probe.Meaning(t); {
		case banTypes[t]:
			ban = true
		case known:
			other = true
		}
	}
	switch {
	case ban && other:
		return KindBoth
	case ban:
		return KindBan
	case other:
		return KindDiagnose
	}
	return KindUnknown
}
