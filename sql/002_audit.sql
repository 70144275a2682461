-- 002_audit: the audit trail.  Append-only and hash-chained:
--   hash = SHA-256(prev_hash || RFC 8785 canonical JSON of the event)
-- where the event is {action, actor, at, details, object_id, object_type,
-- outcome, role, seq} and the first prev_hash is 32 zero bytes.  The chain
-- head (the event with the highest seq) is taken by audit_chain_one() as the
-- last statement before a transaction commits, so no transaction holds it
-- longer than its commit.  It is guarded by a transaction-level advisory
-- lock (key 5346348502397761233), not a row lock on a head row: measured
-- here, updating one head row per act halves the throughput of 8 writers
-- (every update leaves a version that waiting transactions keep alive).
-- Events after the last signed checkpoint are unanchored: verify says so.

CREATE TABLE audit_events (
	seq		bigint PRIMARY KEY CHECK (seq > 0),
	at		timestamptz NOT NULL,
	actor		text NOT NULL,
	role		text,
	action		text NOT NULL,
	object_type	text,
	object_id	text,
	outcome		text NOT NULL
			CHECK (outcome IN ('success', 'denied', 'failure')),
	details		jsonb NOT NULL,
	prev_hash	bytea NOT NULL CHECK (length(prev_hash) = 32),
	hash		bytea NOT NULL CHECK (length(hash) = 32)
);
-- Times rise with seq (stamped under the head's lock), so a BRIN index
-- finds a time range at almost no cost per insert.
CREATE INDEX audit_events_at ON audit_events USING brin (at);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_object ON audit_events (object_type, object_id, seq);

-- Free text that must be kept beside an event (a search query): the chain
-- covers its SHA-256 (in details); the text itself can be purged when the
-- log's own retention ends without breaking the chain.
CREATE TABLE audit_texts (
	seq		bigint NOT NULL REFERENCES audit_events (seq),
	name		text NOT NULL,
	text		text NOT NULL,
	PRIMARY KEY (seq, name)
);

-- Signed checkpoints of the head (Ed25519 over the canonical JSON
-- {"at","hash","key_id","seq"}); copies also go to syslog.
CREATE TABLE audit_checkpoints (
	seq		bigint PRIMARY KEY,
	hash		bytea NOT NULL,
	at		timestamptz NOT NULL,
	key_id		text NOT NULL,
	public_key	bytea NOT NULL,
	signature	bytea NOT NULL
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit trail is append-only: % on % refused',
	    TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_events_append_only
	BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate
	BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only
	BEFORE UPDATE OR DELETE ON audit_checkpoints
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate
	BEFORE TRUNCATE ON audit_checkpoints
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- Chains one event: the last statement of the act's transaction before
-- its COMMIT (sent in the same round trip).  a is the canonical JSON of
-- the event up to the "at" value, b from after it up to the "seq" value;
-- the database supplies both.  The time is the database's clock, read
-- under the head's lock, so times never go backwards along the chain.
CREATE FUNCTION audit_chain_one(a text, b text, p_actor text, p_role text,
    p_action text, p_object_type text, p_object_id text, p_outcome text,
    p_details jsonb, p_texts jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	s	bigint;
	prev	bytea;
	t	timestamptz;
BEGIN
	-- The head is released when this transaction's commit record is in
	-- the WAL, not when it is on disk: the next chainer need not wait for
	-- our flush.  Safe, because the WAL is flushed in order (a later
	-- commit durable means this one is); the caller makes its commit
	-- durable before it answers anyone (audit.c, audit_durable_sql).
	PERFORM set_config('synchronous_commit', 'off', true);
	-- Chainers queue here, in order; each statement below sees what the
	-- one before committed.
	PERFORM pg_advisory_xact_lock(5346348502397761233);
	SELECT seq, hash INTO s, prev FROM audit_events ORDER BY seq DESC
	    LIMIT 1;
	IF NOT FOUND THEN
		s := 0;
		prev := '\x0000000000000000000000000000000000000000000000000000000000000000';
	END IF;
	t := clock_timestamp();
	s := s + 1;
	INSERT INTO audit_events (seq, at, actor, role, action, object_type,
	    object_id, outcome, details, prev_hash, hash)
	VALUES (s, t, p_actor, p_role, p_action, p_object_type, p_object_id,
	    p_outcome, p_details, prev, sha256(prev || convert_to(a || '"' ||
	    to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
	    '"' || b || s::text || '}', 'UTF8')));
	IF p_texts IS NOT NULL THEN
		INSERT INTO audit_texts (seq, name, text)
		SELECT s, key, value FROM jsonb_each_text(p_texts);
	END IF;
	RETURN s;
END $$;

-- Chains several events of one transaction, in order: each element of
-- events has a, b, actor, role, action, object_type, object_id, outcome,
-- details and optionally texts.
CREATE FUNCTION audit_chain(events jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	e	jsonb;
	s	bigint;
BEGIN
	FOR e IN SELECT value FROM jsonb_array_elements(events) LOOP
		s := audit_chain_one(e->>'a', e->>'b', e->>'actor', e->>'role',
		    e->>'action', e->>'object_type', e->>'object_id',
		    e->>'outcome', e->'details', e->'texts');
	END LOOP;
	RETURN s;
END $$;

GRANT SELECT, INSERT ON audit_events, audit_texts, audit_checkpoints
	TO sailo_app;
