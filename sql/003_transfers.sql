-- 003_transfers: transfer packages as received.  A transfer is one
-- submitted package; its state moves received → validating → accepted |
-- rejected | failed.  The package itself lies in storage.spool as
-- <id>.pkg until processing is done with it.  Packages arrive in one
-- request (POST /v1/transfers) or as resumable tus uploads.

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
	upload_id	uuid,		/* the tus upload it came from */
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
CREATE UNIQUE INDEX transfers_upload ON transfers (upload_id)
	WHERE upload_id IS NOT NULL;

-- Resumable uploads (tus 1.0.0).  The bytes so far lie in
-- storage.spool/<id>.part; offset is what is durable there.  A finished
-- upload becomes a transfer and its row records which.
CREATE TABLE uploads (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	principal_id	uuid NOT NULL REFERENCES principals (id),
	length		bigint NOT NULL CHECK (length > 0),
	"offset"	bigint NOT NULL DEFAULT 0
			CHECK ("offset" >= 0 AND "offset" <= length),
	filename	text,
	format		text,
	idempotency_key	text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	transfer_id	uuid REFERENCES transfers (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON uploads TO sailo_app;

GRANT SELECT, INSERT, UPDATE (status, format, updated_at) ON transfers
	TO sailo_app;
