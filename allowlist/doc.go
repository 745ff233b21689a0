// Package allowlist decides whom tlsrpt trusts: which TLS reports really
// come from their reporter, and which failing sending addresses belong to
// senders too big to block.
//
// Anyone can mail a forged TLS report naming their own address, so nothing
// a report says is believed on its word. An address is trusted only when
// both hold:
//
//  1. An authenticated report names it (Verifier.Authenticate). RFC 8460
//     section 3 requires reports sent by mail to carry a valid DKIM
//     signature by the reporting domain, without l=, and reports lacking
//     one to be ignored. The signature must verify here (go-msgauth, with
//     keys declaring s=tlsrpt accepted as RFC 8460 asks), and its d= must
//     have the organizational domain (public suffix plus one label) of the
//     report's TLS-Report-Submitter or contact-info: Mail.ru signs as
//     corp.mail.ru for mail.ru. Failing our own verification, a dkim=pass
//     in an Authentication-Results field counts, but only one added by our
//     own MTA, named by its authserv-id (RFC 8601 section 5); others are
//     ignored however they read. Reports received over HTTPS cannot be
//     authenticated.
//
//  2. The address is proven to be the authenticated reporter's allowlist
//     entry's (Checker.Prove): in one of its ip: ranges, passing SPF
//     check_host for one of its spf: domains (blitiri.com.ar/go/spf), or
//     with a reverse DNS name under one of its rdns: suffixes (on a label
//     boundary) whose forward lookup returns the address.
//
// Checker.Judge combines both into a Verdict with a one-line reason.
// Everything else is shown for review and redeemed only when the operator
// names the address.
//
// The allowlist is a built-in list of the big reporters (Default, the file
// default.list) plus operators' files in the same format (Parse, Load):
//
//	# DOMAIN [ip:CIDR]... [spf:DOMAIN]... [rdns:SUFFIX]...
//	google.com spf:_spf.google.com rdns:google.com
//
// DNS trouble means "not authenticated" or "not proven", never a hang or an
// error: every lookup goes through a Resolver, which asks one server with a
// timeout per query, bounds all lookups for one message or address by a
// budget (about 2 s), keeps answers in a Cache for their TTL and serves
// them stale when the server does not answer, so that review works offline.
package allowlist
