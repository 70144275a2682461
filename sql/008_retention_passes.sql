-- 008_retention_passes: deciding retention again after a new plan
-- version (retention/recompute.c).  One pass per version walks every
-- retention row in record id order, a batch per transaction; its progress
-- (after) commits with each batch, so a pass resumes after a restart and
-- daemons sharing the database share it.  What it moved is the version's
-- impact (GET /v1/plan/versions/{v}/impact).  Version 0: records that
-- were catalogued before retention was decided, with no plan imported.

CREATE TABLE retention_passes (
	version		integer PRIMARY KEY CHECK (version >= 0),
	status		text NOT NULL DEFAULT 'pending'
	    CHECK (status IN ('pending', 'done', 'superseded')),
	after		uuid,		-- the last record done; NULL: none yet
	records		bigint NOT NULL DEFAULT 0,	-- decided again
	changed		bigint NOT NULL DEFAULT 0,	-- whose retention moved
	ends_moved	bigint NOT NULL DEFAULT 0,	-- whose end moved
	by_class	jsonb NOT NULL DEFAULT '{}',	-- ends moved by class
	started_at	timestamptz NOT NULL DEFAULT now(),
	finished_at	timestamptz
);
CREATE INDEX retention_passes_pending ON retention_passes (version)
	WHERE status = 'pending';
GRANT SELECT, INSERT, UPDATE (status, after, records, changed, ends_moved,
	by_class, finished_at) ON retention_passes TO sailo_app;

-- Records catalogued before 007 get their rows, with what their
-- retention is decided from; a pass decides them.  (A record without its
-- own retention has its case file's, and without its own
-- RetentionPeriodEnd its case file's, as at ingest.)
WITH made AS (
	INSERT INTO retention (record_id, state, source, function_code, type,
	    in_case_file, package_years, package_basis, package_trigger,
	    package_end, case_finished, case_last_action, record_created,
	    ingested)
	SELECT r.id, 'unknown', 'none', COALESCE(r.function_code,
	    c.function_code), r.type, r.case_file_id IS NOT NULL,
	    CASE WHEN r.retention_period IS NULL THEN c.retention_period
	    ELSE r.retention_period END,
	    CASE WHEN r.retention_period IS NULL AND c.retention_period IS
	    NOT NULL THEN c.retention_reason ELSE r.retention_reason END,
	    r.retention_trigger,
	    COALESCE(r.retention_end, CASE WHEN r.retention_period IS NULL
	    AND c.retention_period IS NOT NULL THEN c.retention_end END),
	    c.finished, c.last_action, r.created,
	    (COALESCE(t.finished_at, t.submitted_at) AT TIME ZONE
	    'Europe/Helsinki')::date
	FROM records r LEFT JOIN case_files c ON c.id = r.case_file_id
	JOIN transfers t ON t.id = r.transfer_id
	WHERE NOT EXISTS (SELECT 1 FROM retention x WHERE x.record_id = r.id)
	RETURNING 1
)
INSERT INTO retention_passes (version)
SELECT COALESCE((SELECT max(version) FROM plan_versions), 0)
WHERE EXISTS (SELECT 1 FROM made);
