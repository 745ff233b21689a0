// Package store keeps TLS reports, the DNS cache and the redeem audit log in
// one SQLite database file.
//
// Writers are many short-lived processes (maildrop starts one `tlsrpt
// filter` per message), so every write runs in a BEGIN IMMEDIATE
// transaction on a WAL database with a busy timeout, and is retried with
// backoff if SQLite still reports the database busy or locked. Adding a
// report is idempotent: a report is keyed by its organization-name and
// report-id, and a second delivery is stored once (only upgrading the stored
// authentication verdict when the new copy is authenticated and the stored
// one is not).
//
// Storage conventions: times are stored as INTEGER unix seconds (UTC) and
// read back as UTC time.Time values; IP addresses are stored as text in
// canonical form (netip.Addr.String after Unmap, without zone), so
// "::ffff:192.0.2.1" and "192.0.2.1" are the same address, and
// "2001:DB8::1" is stored as "2001:db8::1". An absent address is NULL.
// Policy strings and MX host lists are stored as JSON arrays.
//
// The schema is versioned with PRAGMA user_version; Open applies the missing
// migration steps in order, each in its own transaction.
package store
