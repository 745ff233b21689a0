-- name: audit log names the host

ALTER TABLE actions ADD COLUMN host TEXT NOT NULL DEFAULT '';
