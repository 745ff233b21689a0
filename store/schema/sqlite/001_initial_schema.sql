-- name: initial schema
-- The first release's schema. Times are INTEGER unix seconds (UTC); IP
-- addresses are canonical text, NULL when absent; policy strings and MX
-- host lists are JSON arrays.

CREATE TABLE reports (
	id                 INTEGER PRIMARY KEY,
	org                TEXT NOT NULL,
	report_id          TEXT NOT NULL,
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
	UNIQUE (org, report_id)
);
CREATE INDEX reports_end_time ON reports (end_time);

CREATE TABLE policies (
	id          INTEGER PRIMARY KEY,
	report_id   INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	type        TEXT NOT NULL,
	domain      TEXT NOT NULL DEFAULT '',
	strings     TEXT NOT NULL DEFAULT '[]',
	mx_hosts    TEXT NOT NULL DEFAULT '[]',
	successful  INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX policies_report_id ON policies (report_id);

CREATE TABLE failure_details (
	id              INTEGER PRIMARY KEY,
	policy_id       INTEGER NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
	report_id       INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
	result_type     TEXT NOT NULL DEFAULT '',
	sending_ip      TEXT,
	receiving_mx    TEXT NOT NULL DEFAULT '',
	receiving_helo  TEXT NOT NULL DEFAULT '',
	receiving_ip    TEXT,
	sessions        INTEGER NOT NULL DEFAULT 0,
	reason          TEXT NOT NULL DEFAULT '',
	additional_info TEXT NOT NULL DEFAULT ''
);
CREATE INDEX failure_details_sending_ip ON failure_details (sending_ip);
CREATE INDEX failure_details_report_id ON failure_details (report_id);
CREATE INDEX failure_details_policy_id ON failure_details (policy_id);

CREATE TABLE dns_cache (
	key     TEXT PRIMARY KEY,
	value   BLOB NOT NULL,
	expires INTEGER NOT NULL
);

CREATE TABLE actions (
	id      INTEGER PRIMARY KEY,
	time    INTEGER NOT NULL,
	ip      TEXT,
	backend TEXT NOT NULL DEFAULT '',
	kind    TEXT NOT NULL DEFAULT '',
	target  TEXT NOT NULL DEFAULT '',
	command TEXT NOT NULL DEFAULT '',
	applied INTEGER NOT NULL DEFAULT 0,
	ok      INTEGER NOT NULL DEFAULT 0,
	result  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX actions_time ON actions (time);
