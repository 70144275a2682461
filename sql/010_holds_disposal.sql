-- 010_holds_disposal: holds, and disposal batches that one records
-- manager proposes and another approves (route_disposal.c).
--
-- A hold covers records by a scope evaluated when it is asked (a function
-- code and the codes under it, a case file's NativeId, a person by the
-- HMAC of the identity code, a transfer), so that records catalogued after
-- the hold was placed are covered as well.  A hold by record ids names
-- records by what stays the same across AIP versions: the AIP and the
-- record's NativeId (hold_records).  The one test of "is this record
-- held" is HOLD_COVERS_SQL in retention.h.
--
-- Nothing here is ever deleted: a released hold keeps who released it,
-- when and why; a batch keeps every item with what happened to it.

CREATE TABLE holds (
	id		uuid PRIMARY KEY,
	reason		text NOT NULL CHECK (length(btrim(reason)) > 0),
	scope		text NOT NULL CHECK (scope IN ('function_code',
			    'case_native_id', 'record_ids', 'transfer_id',
			    'person_ssn')),
	function_code	text,		-- normalised: "05 01"
	case_native_id	text,
	transfer_id	uuid REFERENCES transfers (id),
	ssn_hmac	bytea CHECK (length(ssn_hmac) = 32),
	record_ids	uuid[],		-- as asked; hold_records as resolved
	covered		integer NOT NULL,	-- records covered when placed
	placed_by	uuid NOT NULL REFERENCES principals (id),
	placed_at	timestamptz NOT NULL DEFAULT now(),
	released_by	uuid REFERENCES principals (id),
	released_at	timestamptz,
	release_reason	text,
	CHECK ((scope = 'function_code') = (function_code IS NOT NULL)),
	CHECK ((scope = 'case_native_id') = (case_native_id IS NOT NULL)),
	CHECK ((scope = 'transfer_id') = (transfer_id IS NOT NULL)),
	CHECK ((scope = 'person_ssn') = (ssn_hmac IS NOT NULL)),
	CHECK ((scope = 'record_ids') = (record_ids IS NOT NULL)),
	CHECK ((released_at IS NULL) = (released_by IS NULL) AND
	    (released_at IS NULL) = (release_reason IS NULL))
);
CREATE INDEX holds_placed ON holds (placed_at DESC, id DESC);
CREATE INDEX holds_active ON holds (scope) WHERE released_at IS NULL;

CREATE TABLE hold_records (
	hold_id		uuid NOT NULL REFERENCES holds (id),
	aip_id		uuid NOT NULL REFERENCES aips (id),
	native_id	text NOT NULL,
	PRIMARY KEY (aip_id, native_id, hold_id)
);
GRANT SELECT, INSERT ON holds, hold_records TO sailo_app;
GRANT UPDATE (covered, released_by, released_at, release_reason) ON holds
	TO sailo_app;

-- Schedules: a records manager's standing proposal.  A schedule falls
-- due at 06:00 Europe/Helsinki on its day of each month (every quarter:
-- January, April, July, October; every year: January); a day past the
-- month's end is its last day.  The daemon proposes a batch when
-- next_run_at has passed (retention/schedule.c), in the transaction that
-- moves next_run_at on, so one run happens once however many daemons
-- look, and a run missed while no daemon ran happens once when one does.
CREATE TABLE disposal_schedules (
	id		uuid PRIMARY KEY,
	every		text NOT NULL CHECK (every IN ('month', 'quarter',
			    'year')),
	day		integer NOT NULL CHECK (day BETWEEN 1 AND 31),
	function_code	text,
	note		text,
	owner		uuid NOT NULL REFERENCES principals (id),
	created_at	timestamptz NOT NULL DEFAULT now(),
	next_run_at	timestamptz NOT NULL,
	last_run_at	timestamptz,
	deleted_at	timestamptz,
	deleted_by	uuid REFERENCES principals (id)
);
CREATE INDEX disposal_schedules_due ON disposal_schedules (next_run_at)
	WHERE deleted_at IS NULL;
GRANT SELECT, INSERT ON disposal_schedules TO sailo_app;
GRANT UPDATE (next_run_at, last_run_at, deleted_at, deleted_by)
	ON disposal_schedules TO sailo_app;

-- The first moment a schedule falls due after t.
CREATE FUNCTION disposal_schedule_next(p_every text, p_day integer,
    t timestamptz) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
	m	date := date_trunc('month', t AT TIME ZONE 'Europe/Helsinki');
	d	date;
	at	timestamptz;
BEGIN
	FOR i IN 0..24 LOOP
		IF p_every = 'month' OR
		    (p_every = 'quarter' AND extract(month FROM m) IN
		    (1, 4, 7, 10)) OR
		    (p_every = 'year' AND extract(month FROM m) = 1) THEN
			d := m + (least(p_day, extract(day FROM (m +
			    interval '1 month' - interval '1 day'))::int) - 1);
			at := (d + time '06:00') AT TIME ZONE 'Europe/Helsinki';
			IF at > t THEN
				RETURN at;
			END IF;
		END IF;
		m := m + interval '1 month';
	END LOOP;
	RAISE EXCEPTION 'disposal_schedule_next: % %', p_every, p_day;
END $$;

-- A batch: proposed → approved → running → done (or partially_executed
-- when an item failed), or proposed → rejected.  The database keeps four
-- eyes too: whoever decides is not the proposer.
CREATE TABLE disposal_batches (
	id		uuid PRIMARY KEY,
	status		text NOT NULL CHECK (status IN ('proposed',
			    'rejected', 'approved', 'running', 'done',
			    'partially_executed')),
	due_on		date NOT NULL,
	function_code	text,
	note		text,
	items		integer NOT NULL CHECK (items > 0),	-- when proposed
	proposed_by	uuid NOT NULL REFERENCES principals (id),
	proposed_at	timestamptz NOT NULL DEFAULT now(),
	decided_by	uuid REFERENCES principals (id),
	decided_at	timestamptz,
	decision_reason	text,
	started_at	timestamptz,
	finished_at	timestamptz,
	schedule_id	uuid REFERENCES disposal_schedules (id),
	CHECK (decided_by IS NULL OR decided_by <> proposed_by),
	CHECK ((status = 'proposed') = (decided_by IS NULL))
);
CREATE INDEX disposal_batches_proposed ON disposal_batches
	(proposed_at DESC, id DESC);
CREATE INDEX disposal_batches_open ON disposal_batches (status)
	WHERE status IN ('proposed', 'approved', 'running');

-- An item is what the destruction list (hävitysluettelo) shows, taken
-- when the batch was proposed: identifiers, class, type, dates, retention.
-- No title, no content, no person identifier.
CREATE TABLE disposal_items (
	batch_id	uuid NOT NULL REFERENCES disposal_batches (id),
	record_id	uuid NOT NULL REFERENCES records (id),
	aip_id		uuid NOT NULL,
	native_id	text NOT NULL,
	case_native_id	text,
	function_code	text,
	class_code	text,
	class_title	text,
	record_type	text,
	created		date,
	years		integer,
	basis		text,
	trigger		text,
	trigger_date	date,
	end_date	date NOT NULL,
	-- pending → deleting (committed before any file is touched) →
	-- destroyed; or skipped (re-checked at execution), or failed
	state		text NOT NULL DEFAULT 'pending' CHECK (state IN
			    ('pending', 'deleting', 'destroyed', 'skipped',
			    'failed')),
	skip_reason	text CHECK (skip_reason IN ('held', 'not_yet_due',
			    'permanent', 'superseded')),
	error		text,
	done_at		timestamptz,
	PRIMARY KEY (batch_id, record_id),
	CHECK ((state = 'skipped') = (skip_reason IS NOT NULL)),
	CHECK ((state = 'failed') = (error IS NOT NULL))
);
CREATE INDEX disposal_items_record ON disposal_items (record_id);
CREATE INDEX disposal_items_open ON disposal_items (batch_id, aip_id)
	WHERE state IN ('pending', 'deleting');

-- The tombstone's digests: every destroyed file, in every AIP version.
CREATE TABLE disposal_files (
	batch_id	uuid NOT NULL REFERENCES disposal_batches (id),
	record_id	uuid NOT NULL,	-- the item's
	aip_id		uuid NOT NULL,
	version		integer NOT NULL,
	path		text NOT NULL,
	size		bigint NOT NULL,
	sha256		bytea NOT NULL,
	PRIMARY KEY (aip_id, version, path),
	FOREIGN KEY (batch_id, record_id) REFERENCES disposal_items
);
CREATE INDEX disposal_files_item ON disposal_files (batch_id, record_id);

GRANT SELECT, INSERT ON disposal_batches, disposal_items, disposal_files
	TO sailo_app;
GRANT UPDATE (status, decided_by, decided_at, decision_reason, started_at,
	finished_at) ON disposal_batches TO sailo_app;
GRANT UPDATE (state, skip_reason, error, done_at) ON disposal_items
	TO sailo_app;

-- The disposal certificate of a finished batch (retention/certificate.c):
-- canonical JSON, and the archive key's Ed25519 signature over the
-- envelope {"batch_id", "certificate_sha256", "key_id"}.  Kept for ever.
CREATE TABLE disposal_certificates (
	batch_id	uuid PRIMARY KEY REFERENCES disposal_batches (id),
	certificate	text NOT NULL,
	certificate_sha256 bytea NOT NULL CHECK (length(certificate_sha256) =
			    32),
	key_id		text NOT NULL,
	public_key	bytea NOT NULL,
	signature	bytea NOT NULL,
	issued_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER disposal_certificates_append_only
	BEFORE UPDATE OR DELETE ON disposal_certificates
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER disposal_certificates_no_truncate
	BEFORE TRUNCATE ON disposal_certificates
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
GRANT SELECT, INSERT ON disposal_certificates TO sailo_app;

-- Execution (retention/dispose.c) writes a new AIP version without the
-- destroyed records: made by a disposal batch, not a transfer.  The kept
-- records and their case file move to it (records.version is the version
-- a record lives in now); destroyed ones stay in the version before,
-- redacted to their tombstone.  Older versions' bags are rewritten in
-- place (files gone, metadata redacted, manifests again).
ALTER TABLE aip_versions ALTER COLUMN transfer_id DROP NOT NULL;
ALTER TABLE aip_versions ADD COLUMN disposal_batch uuid
	REFERENCES disposal_batches (id);
ALTER TABLE aip_versions ADD CHECK
	(num_nonnulls(transfer_id, disposal_batch) = 1);
CREATE INDEX aip_versions_disposal ON aip_versions (disposal_batch, aip_id)
	WHERE disposal_batch IS NOT NULL;
GRANT UPDATE (tagmanifest_sha256) ON aip_versions TO sailo_app;
ALTER TABLE records ADD COLUMN destroyed_by uuid
	REFERENCES disposal_batches (id);
ALTER TABLE records ADD COLUMN destroyed_at timestamptz;
GRANT UPDATE (version, title, description, status, security_reason,
	personal_data, destroyed_by, destroyed_at) ON records TO sailo_app;
GRANT UPDATE (version, title, security_reason, personal_data) ON case_files
	TO sailo_app;
ALTER TABLE files ADD COLUMN destroyed_by uuid
	REFERENCES disposal_batches (id);
GRANT UPDATE (size, sha256, destroyed_by) ON files TO sailo_app;
GRANT DELETE ON record_persons TO sailo_app;
