package probe

// The result types of RFC 8460's registry (§4.3, §6.4).
const (
	StartTLSNotSupported    = "starttls-not-supported"
	CertificateHostMismatch = "certificate-host-mismatch"
	CertificateExpired      = "certificate-expired"
	CertificateNotTrusted   = "certificate-not-trusted"
	ValidationFailure       = "validation-failure"
	TLSAInvalid             = "tlsa-invalid"
	DNSSECInvalid           = "dnssec-invalid"
	DANERequired            = "dane-required"
	STSPolicyFetchError     = "sts-policy-fetch-error"
	STSPolicyInvalid        = "sts-policy-invalid"
	STSWebPKIInvalid        = "sts-webpki-invalid"
)

// meanings say in one line what each result type means.
var meanings = map[string]string{
	StartTLSNotSupported:    "the receiving MX did not offer STARTTLS",
	CertificateHostMismatch: "the MX host's certificate does not name the host",
	CertificateExpired:      "the MX host's certificate has expired",
	CertificateNotTrusted:   "the MX host's certificate does not chain to a trusted root",
	ValidationFailure:       "the TLS session or its policy failed validation for another reason",
	TLSAInvalid:             "no TLSA record matched the certificate the MX host presented",
	DNSSECInvalid:           "DNSSEC validation of the TLSA records or the MX failed",
	DANERequired:            "the sender requires DANE and found no usable TLSA records",
	STSPolicyFetchError:     "the MTA-STS policy could not be fetched over HTTPS",
	STSPolicyInvalid:        "the MTA-STS policy is malformed or does not cover the MX host",
	STSWebPKIInvalid:        "the certificate of mta-sts.DOMAIN is not valid",
}

// Meaning says in one line what a result type of RFC 8460 means, and
// whether it is one that Diagnose checks.
func Meaning(resultType string) (string, bool) {
	m, ok := meanings[resultType]
	return m, ok
}

// group is a set of checks run together.
type group int

const (
	groupHost group = iota // SMTP, STARTTLS, the certificate
	groupSTS               // MTA-STS
	groupDANE              // TLSA records
)

// callFor are the groups each result type calls for.
var callFor = map[string][]group{
	StartTLSNotSupported:    {groupHost},
	CertificateHostMismatch: {groupHost, groupSTS},
	CertificateExpired:      {groupHost},
	CertificateNotTrusted:   {groupHost},
	ValidationFailure:       {groupHost, groupSTS, groupDANE},
	TLSAInvalid:             {groupHost, groupDANE},
	DNSSECInvalid:           {groupDANE},
	DANERequired:            {groupHost, groupDANE},
	STSPolicyFetchError:     {groupSTS},
	STSPolicyInvalid:        {groupSTS},
	STSWebPKIInvalid:        {groupSTS},
}

// groupsFor are the groups req calls for: every group with All, with no
// result types, or with a result type outside the registry.
func groupsFor(req Request) map[group]bool {
	all := map[group]bool{groupHost: true, groupSTS: true, groupDANE: true}
	if req.All || len(req.ResultTypes) == 0 {
		return all
	}
	out := map[group]bool{}
	for _, t := range req.ResultTypes {
		gs, ok := callFor[t]
		if !ok {
			return all
		}
		for _, g := range gs {
			out[g] = true
		}
	}
	return out
}
