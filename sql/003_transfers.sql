-- 003_transfers: transfer packages as received.  A transfer is one
-- submitted package; its state moves received → validating → accepted |
-- rejected | failed.  The package itself lies in storage.spool as
-- <id>.pkg until processing is done with it.

CREATE TABLE transfers (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	status		text NOT NULL DEFAULT 'received' CHECK (status IN
			('received', 'validating', 'accepted', 'rejected',
			 'failed')),
	format		text,
	package_sha256	bytea NOT NULL CHECK (length(package_sha256) = 32),
	size		bigint NOT NULL CHECK (size >= 0),
	content_type	text,
	submitted_by	uuid NOT NULL REFERENCES principals (id),
	idempotency_key	text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	submitted_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
-- Keys are per principal: one key names one package.
CREATE UNIQUE INDEX transfers_idempotency
	ON transfers (submitted_by, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
-- The same bytes again from the same principal find the first transfer.
CREATE INDEX transfers_package ON transfers (submitted_by, package_sha256);
CREATE INDEX transfers_submitted ON transfers (submitted_at DESC, id DESC);

GRANT SELECT, INSERT, UPDATE (status, format, updated_at) ON transfers
	TO sailo_app;
