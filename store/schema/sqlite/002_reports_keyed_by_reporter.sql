-- name: reports keyed by reporter, counts bounded, per-address aggregate
-- foreign-keys: off
--
-- Keys reports on (reporter, org, report_id) and gives each its content
-- digest (see AddReport; migrate2, the Go part of the step, fills both
-- and marks every address stale until step 5 builds the aggregate);
-- clamps stored counts to [0, MaxCount]; replaces the index on sending_ip
-- by one that covers what evidence queries read; and adds the per-address
-- aggregate review reads (see aggregate.go), kept up to date by AddReport.
-- A trigger marks the addresses of deleted failure details in
-- addresses_stale, whoever deletes them; writers recompute those
-- (refreshStale) and readers do not trust the aggregate while any is
-- marked.
--
-- SQLite cannot change a table's unique key in place: reports is rebuilt,
-- with foreign key enforcement off while the step runs (the DROP TABLE
-- would cascade otherwise) and every foreign key checked before it
-- commits.

CREATE TABLE reports_v2 (
	id                 INTEGER PRIMARY KEY,
	reporter           TEXT NOT NULL DEFAULT '',
	org                TEXT NOT NULL,
	report_id          TEXT NOT NULL,
	digest             TEXT NOT NULL DEFAULT '',
	contact            TEXT NOT NULL DEFAULT '',
	start_time         INTEGER NOT NULL,
	end_time           INTEGER NOT NULL,
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
INSERT INTO reports_v2 (id, org, report_id, contact, start_time, end_time,
	submitter, from_domain, message_id, transport, received,
	auth_authenticated, auth_method, auth_domain, auth_detail, stored)
SELECT id, org, report_id, contact, start_time, end_time,
	submitter, from_domain, message_id, transport, received,
	auth_authenticated, auth_method, auth_domain, auth_detail, stored
FROM reports;
DROP TABLE reports;
ALTER TABLE reports_v2 RENAME TO reports;
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
	mask INTEGER NOT NULL,
	PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE addresses (
	ip         TEXT PRIMARY KEY,
	sessions   INTEGER NOT NULL,
	reports    INTEGER NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	org_mask   INTEGER NOT NULL,
	type_mask  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE address_orgs (
	ip  TEXT NOT NULL,
	org TEXT NOT NULL,
	PRIMARY KEY (ip, org)
) WITHOUT ROWID;
CREATE TABLE address_types (
	ip          TEXT NOT NULL,
	result_type TEXT NOT NULL,
	PRIMARY KEY (ip, result_type)
) WITHOUT ROWID;
CREATE TABLE addresses_stale (ip TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TRIGGER failure_details_deleted AFTER DELETE ON failure_details
	WHEN OLD.sending_ip IS NOT NULL
BEGIN
	INSERT INTO addresses_stale (ip) VALUES (OLD.sending_ip) ON CONFLICT DO NOTHING;
END;
