// Package report finds and decodes SMTP TLS reports (RFC 8460).
//
// A report arrives as JSON, usually gzip-compressed, sometimes zipped,
// attached to a mail message (ReadMessage) or as a file or HTTP POST body
// (Decode, ParseJSON). The decoders are lenient where real reporters
// deviate from the RFC — Microsoft's zone-less timestamps and nested tlsa
// policy-string, mx-host as a string or an array, contact-info null,
// failure details without addresses, a missing closing MIME boundary — and
// strict where it matters to the rest of tlsrpt: an address that is given
// must parse, and session counts must be non-negative integers.
//
// Every read is bounded by Limits: a message over Limits.MaxMessage, or
// content that decompresses beyond Limits.MaxDecompressed, gives an error
// wrapping ErrTooLarge, and a compression bomb is refused after reading
// only that many bytes, in constant memory. Input that holds no report at
// all gives an error wrapping ErrNoReport; compare with errors.Is.
//
// The model types (Report, Policy, FailureDetail) are plain values, free of
// the wire format's hyphenated names, which live in json.go. JSON is read
// with go-json-experiment/json under encoding/json's leniency, and a gzip
// report is decompressed straight into the decoder, failure details
// straight into the model: a report of 50,000 details is never held as
// text or as wire structs.
package report
