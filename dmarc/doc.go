// Package dmarc reads DMARC aggregate reports: RFC 7489 appendix C and the
// RFC 9990 (DMARCbis) format, as reporters send them.
//
// A report arrives as XML, gzip-compressed XML or a zip archive holding one
// XML file, as a file (Parse) or attached to a mail message (FromMessage),
// which finds reports by their content whatever the Content-Type says. The
// reader is lenient where real reporters deviate: white space around
// values, enumerations in any case (normalised to lower case), element
// names in any case, missing optional elements, an empty org_name (the
// reporter is then the domain of the email element), a gzip stream after
// leading line ends, padding after the last gzip member.
//
// It is strict on bounds (Limits): bytes read, bytes decompressed, zip
// members, records, elements, XML depth. It never reads a DTD: a DOCTYPE is
// refused outright (ErrDTD), so no entity is ever expanded and no external
// entity ever fetched; Go's encoding/xml knows only the five predefined
// entities and character references. Content that is not an aggregate
// report gives an error wrapping ErrNotDMARC; a report that is one but
// cannot be read gives an error naming the element path, such as
// "feedback/record[3]/row/source_ip".
//
// The model (Report, Record and their parts) is plain values; the wire
// types with their XML tags live in xml.go. Storage is elsewhere: this
// package knows no store.
package dmarc
