-- 007_retention: each record's retention as Sailo decided it
-- (retention/decide.c): the period, its basis and trigger, the trigger's
-- date and the end, which plan version and class decided it, and where
-- the package and the plan disagreed.  Beside them, what it was decided
-- from, so that a life-cycle event or a new plan version decides again
-- without reading the package.  The catalogue (records) stays as ingest
-- wrote it; this table changes as events and plans come in.

CREATE TABLE retention (
	record_id	uuid PRIMARY KEY REFERENCES records (id),
	state		text NOT NULL
	    CHECK (state IN ('dated', 'permanent', 'waiting', 'unknown')),
	years		integer CHECK (years >= -1),	-- -1 = permanent
	basis		text,
	trigger		text,
	trigger_date	date,
	end_date	date,
	source		text NOT NULL CHECK (source IN ('plan', 'package', 'none')),
	plan_version	integer REFERENCES plan_versions (version),
	class_code	text,
	record_type	text,		-- the plan's record type that applied
	-- [{"kind": "period"|"end_earlier"|"end_later", …}]; NULL: agreed
	disagreement	jsonb,
	-- What it is decided from.
	function_code	text,		-- the record's, else its case file's
	type		text,
	in_case_file	boolean NOT NULL,
	package_years	integer,
	package_basis	text,
	package_trigger	text,
	package_end	date,
	case_finished	date,
	case_last_action date,
	record_created	date,
	ingested	date NOT NULL,	-- in Europe/Helsinki
	decided_at	timestamptz NOT NULL DEFAULT now(),
	CHECK ((state = 'dated') = (end_date IS NOT NULL))
);
-- What is due on a day, in order (GET /v1/retention/due).
CREATE INDEX retention_due ON retention (end_date, record_id)
	WHERE state = 'dated';
-- Records waiting for an event of their trigger.
CREATE INDEX retention_waiting ON retention (trigger) WHERE state = 'waiting';
-- Records a plan change may move.
CREATE INDEX retention_class ON retention (class_code, plan_version);
CREATE INDEX retention_function ON retention
	(function_code text_pattern_ops);
GRANT SELECT, INSERT, UPDATE (state, years, basis, trigger, trigger_date,
	end_date, source, plan_version, class_code, record_type, disagreement,
	decided_at) ON retention TO sailo_app;

-- Life-cycle events (POST /v1/retention/events): a trigger's date for the
-- records a match finds.  A person is matched, and kept, by the HMAC of
-- the identity code, never the code.
CREATE TABLE retention_events (
	id		uuid PRIMARY KEY,
	trigger		text NOT NULL,
	date		date NOT NULL,
	match		jsonb NOT NULL,
	matched		integer NOT NULL,	-- records that match
	changed		integer NOT NULL,	-- whose retention moved
	recorded_by	text NOT NULL,
	recorded_at	timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE (matched, changed) ON retention_events
	TO sailo_app;

-- The date each event gave each record, by trigger: kept also for a
-- trigger the record does not use now, for a later plan that uses it.
CREATE TABLE retention_event_dates (
	record_id	uuid NOT NULL REFERENCES records (id),
	trigger		text NOT NULL,
	date		date NOT NULL,
	event_id	uuid NOT NULL REFERENCES retention_events (id),
	PRIMARY KEY (record_id, trigger)
);
GRANT SELECT, INSERT, UPDATE (date, event_id) ON retention_event_dates
	TO sailo_app;
