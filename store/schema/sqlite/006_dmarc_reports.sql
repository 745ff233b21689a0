-- name: DMARC aggregate reports
-- dmarc_reports holds one row per DMARC aggregate report, keyed like
-- reports (see AddDMARC): reporter is who sent the copy (the
-- authenticated domain, else the domain the copy claims, else the
-- reporter the report names), org the reporter the report names
-- (dmarc.Metadata.Reporter: org_name, else the domain of email). messages
-- and failed are the report's totals (saturating at MaxSum), so that the
-- statistics read one row per report, never its records. pct is -1 when
-- the report gives none.
--
-- dmarc_records holds the report's records. pass is dmarc.Record.DMARCPass
-- (aligned DKIM or aligned SPF pass, as the reporter evaluated it);
-- reasons and auth_results are compact JSON ('' when none): reasons
-- [{"t":type,"c":comment}], auth_results {"dkim":[{"d","s","r","h"}],
-- "spf":[{"d","s","r","h"}]} (domain, selector or scope, result, human
-- result).
--
-- Indexed text columns (bounded by MaxIndexed, as for TLS reports):
-- dmarc_reports (reporter, org, report_id) and (org, report_id, digest).
-- source_ip is canonical text from net/netip.

CREATE TABLE dmarc_reports (
	id                 INTEGER PRIMARY KEY,
	reporter           TEXT NOT NULL,
	org                TEXT NOT NULL,
	org_name           TEXT NOT NULL DEFAULT '',
	report_id          TEXT NOT NULL,
	digest             TEXT NOT NULL DEFAULT '',
	email              TEXT NOT NULL DEFAULT '',
	extra_contact      TEXT NOT NULL DEFAULT '',
	version            TEXT NOT NULL DEFAULT '',
	generator          TEXT NOT NULL DEFAULT '',
	errors             TEXT NOT NULL DEFAULT '[]',
	start_time         INTEGER NOT NULL,
	end_time           INTEGER NOT NULL,
	domain             TEXT NOT NULL DEFAULT '',
	adkim              TEXT NOT NULL DEFAULT '',
	aspf               TEXT NOT NULL DEFAULT '',
	p                  TEXT NOT NULL DEFAULT '',
	sp                 TEXT NOT NULL DEFAULT '',
	np                 TEXT NOT NULL DEFAULT '',
	pct                INTEGER NOT NULL DEFAULT -1,
	fo                 TEXT NOT NULL DEFAULT '',
	testing            TEXT NOT NULL DEFAULT '',
	discovery_method   TEXT NOT NULL DEFAULT '',
	messages           INTEGER NOT NULL DEFAULT 0,
	failed             INTEGER NOT NULL DEFAULT 0,
	submitter          TEXT NOT NULL DEFAULT '',
	from_domain        TEXT NOT NULL DEFAULT '',
	message_id         TEXT NOT NULL DEFAULT '',
	transport          TEXT NOT NULL DEFAULT '',
	received           INTEGER,
	auth_authenticated INTEGER NOT NULL DEFAULT 0,
	auth_method        TEXT NOT NULL DEFAULT '',
	auth_domain        TEXT NOT NULL DEFAULT '',
	auth_detail        TEXT NOT NULL DEFAULT '',
	stored             INTEGER NOT NULL,
	UNIQUE (reporter, org, report_id)
);
CREATE INDEX dmarc_reports_time ON dmarc_reports (end_time, start_time);
CREATE INDEX dmarc_reports_content ON dmarc_reports (org, report_id, digest);
CREATE INDEX dmarc_reports_stored ON dmarc_reports (stored);

CREATE TABLE dmarc_records (
	id            INTEGER PRIMARY KEY,
	report_id     INTEGER NOT NULL REFERENCES dmarc_reports (id) ON DELETE CASCADE,
	source_ip     TEXT NOT NULL,
	count         INTEGER NOT NULL DEFAULT 0,
	pass          INTEGER NOT NULL DEFAULT 0,
	disposition   TEXT NOT NULL DEFAULT '',
	dkim          TEXT NOT NULL DEFAULT '',
	spf           TEXT NOT NULL DEFAULT '',
	header_from   TEXT NOT NULL DEFAULT '',
	envelope_from TEXT NOT NULL DEFAULT '',
	envelope_to   TEXT NOT NULL DEFAULT '',
	reasons       TEXT NOT NULL DEFAULT '',
	auth_results  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dmarc_records_report ON dmarc_records (report_id, pass);
