-- The least rights each kind of tlsrpt host needs on a shared PostgreSQL
-- store (docs/fleet.md). Run as the owner of the database, after the
-- schema exists (the owner's first `tlsrpt migrate-db` or any tlsrpt
-- command run once as the owner):
--
--   psql -d tlsrpt -f contrib/postgresql/grants.sql
--
-- It makes two group roles without login; give each host's login role the
-- group it needs:
--
--   CREATE ROLE mailbox LOGIN PASSWORD '...' IN ROLE tlsrpt_reports;
--   CREATE ROLE mx1 LOGIN PASSWORD '...' IN ROLE tlsrpt_mx;
--
-- tlsrpt_reports: the report mailbox host (tlsrpt filter, serve, import):
--   stores reports, which also keeps the per-address aggregate, and
--   caches DNS answers.
-- tlsrpt_mx: every MX host (tlsrpt review, redeem, allowlist check as
--   fail2ban's ignorecommand, digest, stats, dashboard): reads reports,
--   writes the audit log, caches DNS answers. It cannot add, change or
--   delete a report: a compromised MX cannot forge evidence for another.
-- Neither can change the schema; tlsrpt prune needs the owner.

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tlsrpt_reports') THEN
		CREATE ROLE tlsrpt_reports NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tlsrpt_mx') THEN
		CREATE ROLE tlsrpt_mx NOLOGIN;
	END IF;
END
$$;

DO $$
BEGIN
	EXECUTE format('GRANT CONNECT ON DATABASE %I TO tlsrpt_reports, tlsrpt_mx', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO tlsrpt_reports, tlsrpt_mx;

-- Both read everything tlsrpt keeps, and the schema version.
GRANT SELECT ON tlsrpt_schema, reports, policies, failure_details,
	labels, addresses, address_orgs, address_types, addresses_stale,
	actions, dns_cache, settings TO tlsrpt_reports, tlsrpt_mx;

-- Both cache DNS answers and keep small state between runs (when the
-- last digest went out, how many trusted addresses wait for redeem).
GRANT INSERT, UPDATE, DELETE ON dns_cache, settings TO tlsrpt_reports, tlsrpt_mx;

-- The mailbox host stores reports: an authenticated copy replaces an
-- unsigned one (DELETE), and the aggregate follows.
GRANT INSERT, UPDATE, DELETE ON reports, policies, failure_details,
	labels, addresses, address_orgs, address_types, addresses_stale TO tlsrpt_reports;
GRANT USAGE ON SEQUENCE reports_id_seq, policies_id_seq, failure_details_id_seq TO tlsrpt_reports;

-- Every MX writes the audit log of what it planned and did.
GRANT INSERT ON actions TO tlsrpt_mx;
GRANT USAGE ON SEQUENCE actions_id_seq TO tlsrpt_mx;
