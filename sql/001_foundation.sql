-- 001_foundation: principals and their bearer tokens.
-- The application role (sailo_app) may read and add; it revokes a token by
-- setting revoked_at, and never deletes, so that what a token did stays
-- attributable to it.

CREATE TABLE principals (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL UNIQUE
			CHECK (length(name) BETWEEN 1 AND 200),
	clearance	text[] NOT NULL DEFAULT '{}',
	created_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tokens (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	principal_id	uuid NOT NULL REFERENCES principals (id),
	role		text NOT NULL CHECK (role IN
			('integration', 'records_manager', 'auditor', 'admin')),
	token_sha256	bytea NOT NULL UNIQUE
			CHECK (length(token_sha256) = 32),
	created_at	timestamptz NOT NULL DEFAULT now(),
	revoked_at	timestamptz
);
CREATE INDEX tokens_created ON tokens (created_at DESC, id DESC);

GRANT USAGE ON SCHEMA public TO sailo_app;
GRANT SELECT, INSERT, UPDATE (clearance) ON principals TO sailo_app;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON tokens TO sailo_app;
