-- name: aggregate knows the organization-names of authenticated reports
-- Gives the aggregate which organization-names authenticated reports give;
-- the Go part of the step (buildAggregate) recomputes it for every
-- address.

ALTER TABLE addresses ADD COLUMN auth_org_mask BIGINT NOT NULL DEFAULT 0;
ALTER TABLE address_orgs ADD COLUMN authenticated BIGINT NOT NULL DEFAULT 0;
