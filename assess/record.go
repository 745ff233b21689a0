package assess

import "time"

// Record is a Row as `tlsrpt review --json` and the dashboard's
// /api/v1/review write it. Its keys are part of the command contract
// (docs/architecture.md). organizations marks a name no authenticated report gives
// ("Google Inc. (unauthenticated)"); authenticated_organizations lists
// the names authenticated reports give. banned is absent when no backend
// was consulted and [] when one was and found nothing; banned_unknown
// names the backends that could not be consulted.
type Record struct {
	IP                         string       `json:"ip"`
	FailedSessions             int64        `json:"failed_sessions"`
	Reports                    int          `json:"reports"`
	Organizations              []string     `json:"organizations"`
	AuthenticatedOrganizations []string     `json:"authenticated_organizations"`
	ResultTypes                []string     `json:"result_types"`
	Kind                       string       `json:"kind"` // what explains the result types: ban, diagnose, both or - (see Kind)
	FirstSeen                  time.Time    `json:"first_seen"`
	LastSeen                   time.Time    `json:"last_seen"`
	Trusted                    bool         `json:"trusted"`
	Why                        string       `json:"why"`
	DNSFailed                  bool         `json:"dns_failed,omitempty"`
	Banned                     *[]BanRecord `json:"banned,omitempty"`
	BannedUnknown              []string     `json:"banned_unknown,omitempty"`
	// RedeemedAt, Outcome and OutcomeWhy are set for a redeemed address:
	// the latest applied unban or keep, and where it stands (OutcomeWords).
	RedeemedAt *time.Time `json:"redeemed_at,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	OutcomeWhy string     `json:"outcome_why,omitempty"`
}

// BanRecord is one ban in a Record.
type BanRecord struct {
	Backend string `json:"backend"`
	Where   string `json:"where"`
	Detail  string `json:"detail,omitempty"`
}

// Record returns the row as JSON takes it.
func (r Row) Record() Record {
	rec := Record{
		IP: r.IP.String(), FailedSessions: r.FailedSessions, Reports: r.Reports,
		Organizations: nonNil(r.Organizations), AuthenticatedOrganizations: nonNil(r.AuthenticatedOrganizations),
		ResultTypes: nonNil(r.ResultTypes),
		FirstSeen:   r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC(),
		Trusted: r.Trusted, Why: r.Why, DNSFailed: r.DNSFailed,
	}
	rec.Kind = Kind(r.ResultTypes)
	if r.Bans != nil || len(r.Unknown) > 0 {
		bans := make([]BanRecord, 0, len(r.Bans))
		for _, b := range r.Bans {
			bans = append(bans, BanRecord{Backend: b.Backend, Where: b.Where, Detail: b.Detail})
		}
		rec.Banned = &bans
	}
	for _, u := range r.Unknown {
		rec.BannedUnknown = append(rec.BannedUnknown, u.Backend)
	}
	if o := r.Redeemed; o != nil {
		at := o.At.UTC()
		rec.RedeemedAt, rec.Outcome, rec.OutcomeWhy = &at, o.Outcome, o.Why
	}
	return rec
}

// Records returns the rows as JSON takes them; never nil.
func Records(rows []Row) []Record {
	out := make([]Record, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Record())
	}
	return out
}

// BannedText says where a record's address is banned, for a table: "?"
// when a backend could not tell, "-" when none was asked, "no" when none
// found it.
func (rec Record) BannedText() string {
	var s string
	if rec.Banned != nil {
		for i, b := range *rec.Banned {
			if i > 0 {
				s += ","
			}
			s += b.Backend + ":" + b.Where
		}
	}
	switch {
	case len(rec.BannedUnknown) > 0 && s != "":
		return s + ",?"
	case len(rec.BannedUnknown) > 0:
		return "?"
	case s != "":
		return s
	case rec.Banned != nil:
		return "no"
	}
	return "-"
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
