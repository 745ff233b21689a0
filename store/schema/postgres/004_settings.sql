-- name: settings, reports by time stored

CREATE TABLE settings (
	name    TEXT PRIMARY KEY,
	value   TEXT NOT NULL,
	updated BIGINT NOT NULL
);
CREATE INDEX reports_stored ON reports (stored);
