// Package store keeps TLS reports, the DNS cache and the redeem audit log in
// one SQLite database file.
//
// Writers are many short-lived processes (maildrop starts one `tlsrpt
// filter` per message), so every write runs in a BEGIN IMMEDIATE
// transaction on a WAL database, waiting for another writer's lock at most
// WriteBudget across its attempts, then failing with ErrBusy.
//
// Adding a report is idempotent and no reporter can suppress or replace
// another's report: a report is keyed by who sent it (the authenticated
// domain of an authenticated copy, else the domain an unauthenticated copy
// claims, else its organization-name), its organization-name and its
// report-id; word-for-word copies are one report whoever sent them; an
// authenticated copy replaces unauthenticated copies of the same report
// whole. See AddReport. Session counts are bounded (MaxCount) and sums
// saturate (MaxSum), so no sum can overflow or turn negative.
//
// Review reads without one query per address: Failing reads a per-address
// aggregate the store keeps up to date as it adds reports (or, with a
// since, the details of recent reports through an index on their end
// time); EvidenceAll, EvidenceEach and EvidenceFor read the evidence of
// many addresses in a few statements.
//
// Storage conventions: times are stored as INTEGER unix seconds (UTC) and
// read back as UTC time.Time values; IP addresses are stored as text in
// canonical form (netip.Addr.String after Unmap, without zone), so
// "::ffff:192.0.2.1" and "192.0.2.1" are the same address, and
// "2001:DB8::1" is stored as "2001:db8::1". An absent address is NULL.
// Policy strings and MX host lists are stored as JSON arrays.
//
// The schema is versioned with PRAGMA user_version; Open applies the missing
// migration steps in order, each in its own transaction, and takes no lock
// when none is missing. New SQL is kept portable (for PostgreSQL) where it
// can be; what is SQLite's own (PRAGMAs, WITHOUT ROWID, the trigger, the
// table rebuild of step 2) is in the schema steps and the connection
// settings.
package store
