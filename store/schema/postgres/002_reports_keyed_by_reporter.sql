-- name: reports keyed by reporter, counts bounded, per-address aggregate
-- What SQLite's step 2 does, with the same result: PostgreSQL changes the
-- unique key of reports in place, without SQLite's table rebuild; the
-- trigger calls a function. The Go part of the step (migrate2) fills the
-- reporter and digest columns and marks every address stale.

ALTER TABLE reports ADD COLUMN reporter TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE reports DROP CONSTRAINT reports_org_report_id;
ALTER TABLE reports ADD CONSTRAINT reports_reporter_org_report_id UNIQUE (reporter, org, report_id);
DROP INDEX reports_end_time;
CREATE INDEX reports_time ON reports (end_time, start_time);
CREATE INDEX reports_content ON reports (org, report_id, digest);
UPDATE failure_details SET sessions = CASE WHEN sessions < 0 THEN 0 ELSE 1000000000000 END
	WHERE sessions < 0 OR sessions > 1000000000000;
UPDATE policies SET successful = CASE WHEN successful < 0 THEN 0 ELSE 1000000000000 END
	WHERE successful < 0 OR successful > 1000000000000;
UPDATE policies SET failed = CASE WHEN failed < 0 THEN 0 ELSE 1000000000000 END
	WHERE failed < 0 OR failed > 1000000000000;

DROP INDEX failure_details_sending_ip;
CREATE INDEX failure_details_ip ON failure_details (sending_ip, report_id, result_type, sessions);

CREATE TABLE labels (
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	mask BIGINT NOT NULL,
	PRIMARY KEY (kind, name)
);
CREATE TABLE addresses (
	ip         TEXT PRIMARY KEY,
	sessions   BIGINT NOT NULL,
	reports    BIGINT NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	org_mask   BIGINT NOT NULL,
	type_mask  BIGINT NOT NULL
);
CREATE TABLE address_orgs (
	ip  TEXT NOT NULL,
	org TEXT NOT NULL,
	PRIMARY KEY (ip, org)
);
CREATE TABLE address_types (
	ip          TEXT NOT NULL,
	result_type TEXT NOT NULL,
	PRIMARY KEY (ip, result_type)
);
CREATE TABLE addresses_stale (ip TEXT PRIMARY KEY);
CREATE FUNCTION tlsrpt_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO addresses_stale (ip) VALUES (OLD.sending_ip) ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;
CREATE TRIGGER failure_details_deleted AFTER DELETE ON failure_details
	FOR EACH ROW WHEN (OLD.sending_ip IS NOT NULL) EXECUTE FUNCTION tlsrpt_mark_stale();
