-- 004_ingest: processing transfers and the catalogue of what was stored.
--
-- A transfer is processed by one daemon at a time: the daemon holds a
-- session advisory lock on it while it works (released by PostgreSQL when
-- that daemon dies, so a restarted or another daemon takes it over).  Its
-- findings are kept; an accepted one gives AIP versions.  The catalogue
-- holds every field retention needs, so that records stored before the
-- retention issue landed can be judged later.  Person identity codes are
-- never stored: only their HMAC-SHA-256 under a key kept outside the
-- database.

ALTER TABLE transfers
	ADD COLUMN inbox_name	text,		/* the inbox file it came from */
	ADD COLUMN attempts	integer NOT NULL DEFAULT 0,
	ADD COLUMN errors	integer,
	ADD COLUMN warnings	integer,
	ADD COLUMN failure	text,		/* why it failed (Sailo's side) */
	ADD COLUMN next_try_at	timestamptz,	/* a failed try's backoff */
	ADD COLUMN finished_at	timestamptz,
	ADD COLUMN package_kept_until timestamptz;
GRANT UPDATE (inbox_name, attempts, errors, warnings, failure, next_try_at,
	finished_at, package_kept_until) ON transfers TO sailo_app;
CREATE INDEX transfers_pending ON transfers (submitted_at)
	WHERE status IN ('received', 'validating');
CREATE INDEX transfers_kept ON transfers (package_kept_until)
	WHERE package_kept_until IS NOT NULL;

-- Every finding of a transfer's last processing, in the order found.
CREATE TABLE transfer_findings (
	transfer_id	uuid NOT NULL REFERENCES transfers (id),
	seq		integer NOT NULL,
	severity	text NOT NULL CHECK (severity IN
			('error', 'warning', 'info')),
	code		text NOT NULL,
	path		text,
	line		bigint,
	message		text NOT NULL,
	PRIMARY KEY (transfer_id, seq)
);
-- DELETE: a retried transfer's findings replace those of its last try.
GRANT SELECT, INSERT, DELETE ON transfer_findings TO sailo_app;

-- One AIP per case file (SÄHKE2) or per bag, from one source: a later
-- transfer of the same NativeId by the same principal is a new version.
CREATE TABLE aips (
	id		uuid PRIMARY KEY,
	source		uuid NOT NULL REFERENCES principals (id),
	native_id	text NOT NULL,
	title		text,
	current_version	integer NOT NULL CHECK (current_version >= 1),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (source, native_id)
);
GRANT SELECT, INSERT, UPDATE (title, current_version, updated_at) ON aips
	TO sailo_app;

CREATE TABLE aip_versions (
	aip_id		uuid NOT NULL REFERENCES aips (id),
	version		integer NOT NULL CHECK (version >= 1),
	transfer_id	uuid NOT NULL REFERENCES transfers (id),
	files		integer NOT NULL,
	bytes		bigint NOT NULL,
	tagmanifest_sha256 bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (aip_id, version)
);
CREATE INDEX aip_versions_transfer ON aip_versions (transfer_id);
GRANT SELECT, INSERT ON aip_versions TO sailo_app;

CREATE TABLE case_files (
	id		uuid PRIMARY KEY,
	aip_id		uuid NOT NULL,
	version		integer NOT NULL,
	native_id	text NOT NULL,
	title		text,
	type		text,
	status		text,
	function_code	text,
	created		date,
	finished	date,		/* the latest Finished */
	last_action	date,		/* the latest Action/Created */
	actions		integer NOT NULL DEFAULT 0,
	publicity	text,
	security_reason	text,
	personal_data	text,
	retention_period integer,	/* years; -1 = permanent */
	retention_reason text,
	retention_end	date,
	FOREIGN KEY (aip_id, version) REFERENCES aip_versions
);
CREATE INDEX case_files_aip ON case_files (aip_id, version);
CREATE INDEX case_files_native ON case_files (native_id);
GRANT SELECT, INSERT ON case_files TO sailo_app;

CREATE TABLE records (
	id		uuid PRIMARY KEY,
	aip_id		uuid NOT NULL,
	version		integer NOT NULL,
	case_file_id	uuid REFERENCES case_files (id),
	transfer_id	uuid NOT NULL REFERENCES transfers (id),
	native_id	text NOT NULL,
	title		text,
	description	text,
	type		text,
	status		text,
	function_code	text,
	created		date,		/* the earliest Created */
	publicity	text,
	security_reason	text,
	personal_data	text,
	retention_period integer,
	retention_reason text,
	retention_end	date,
	retention_trigger text,
	FOREIGN KEY (aip_id, version) REFERENCES aip_versions
);
CREATE INDEX records_aip ON records (aip_id, version);
CREATE INDEX records_transfer ON records (transfer_id, id);
CREATE INDEX records_function ON records (function_code text_pattern_ops, id);
CREATE INDEX records_case_file ON records (case_file_id);
GRANT SELECT, INSERT ON records TO sailo_app;

-- HMAC-SHA-256 of each person identity code a record names.
CREATE TABLE record_persons (
	record_id	uuid NOT NULL REFERENCES records (id),
	ssn_hmac	bytea NOT NULL CHECK (length(ssn_hmac) = 32),
	PRIMARY KEY (record_id, ssn_hmac)
);
CREATE INDEX record_persons_hmac ON record_persons (ssn_hmac);
GRANT SELECT, INSERT ON record_persons TO sailo_app;

-- The files of each AIP version, by their path in the bag.
CREATE TABLE files (
	aip_id		uuid NOT NULL,
	version		integer NOT NULL,
	path		text NOT NULL,		/* data/content/… */
	size		bigint NOT NULL CHECK (size >= 0),
	sha256		bytea NOT NULL CHECK (length(sha256) = 32),
	record_id	uuid REFERENCES records (id),
	document_native_id text,
	use_type	text,
	declared_format	text,
	declared_version text,
	mime_type	text,			/* libmagic's */
	PRIMARY KEY (aip_id, version, path),
	FOREIGN KEY (aip_id, version) REFERENCES aip_versions
);
CREATE INDEX files_record ON files (record_id);
GRANT SELECT, INSERT ON files TO sailo_app;
