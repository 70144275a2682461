-- 005_audit_queue: acts commit in parallel; one chainer at a time joins
-- them to the chain.
--
-- Until now every act's transaction took the chain head as its last
-- statement, so all writers of all daemons formed one queue through the
-- head and its lock hand-over (measured here: 8 writers, 3,400–5,600
-- acts/s against 8,700–9,600 unaudited).  Now an act's transaction only
-- inserts its events into audit_queue: they commit (or roll back) with the
-- act, as before, and take no lock.  Right after, the daemon's chainer
-- (or the CLI that recorded the act) takes the head once for a batch of
-- up to 1,000 committed events, stamps them with the database's clock,
-- gives each the next seq and its hash, moves them into audit_events and
-- deletes them from the queue, in one transaction.  A crash between the two leaves the events in the queue,
-- committed; whoever chains next takes them.  The chain is one strictly
-- ordered sequence whoever chains, because the head's advisory lock is
-- taken first.
--
-- The application role may only INSERT into the queue: it cannot take an
-- event out of it except by chaining it (audit_chain_put() runs as the
-- owner).  at is when the event's batch entered the chain, so times never
-- fall along seq: normally milliseconds after the act committed.

DROP FUNCTION audit_chain(jsonb);
DROP FUNCTION audit_chain_one(text, text, text, text, text, text, text, text,
    jsonb, jsonb);

CREATE TABLE audit_queue (
	id		bigserial PRIMARY KEY,
	queued_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	-- the canonical event split around the values the chainer adds:
	-- a ends before the "at" value, b runs from after it to just
	-- before the "seq" value (audit.c, audit_split_canonical)
	a		text NOT NULL,
	b		text NOT NULL,
	actor		text NOT NULL,
	role		text,
	action		text NOT NULL,
	object_type	text,
	object_id	text,
	outcome		text NOT NULL,
	details		jsonb NOT NULL,
	texts		jsonb
);
GRANT SELECT, INSERT ON audit_queue TO sailo_app;
GRANT USAGE ON SEQUENCE audit_queue_id_seq TO sailo_app;

-- The chainer's two steps, in one transaction of the application role
-- (audit.c, audit_chain_batch):
--   audit_chain_take(max) takes the head's lock and returns the head, the
--   time the batch enters the chain, and up to max committed events of
--   the queue, oldest first;
--   the chainer computes each event's hash in turn;
--   audit_chain_put(first_seq, at, ids, hashes) moves exactly those events
--   from the queue into the chain with seq first_seq, first_seq + 1, … in
--   the order of ids, and their texts beside them.
-- One set-based statement per batch instead of one INSERT per event (which
-- cost about 150 µs of the database's CPU per event here, most of it
-- plpgsql starting an executor and reading the CHECK constraints again).
-- The hashes are the chainer's word: verify recomputes every one.
CREATE FUNCTION audit_chain_take(max_events integer)
RETURNS TABLE (head_seq bigint, head_hash text, at text, id bigint, a text,
    b text)
-- The queue's heap is mostly dead rows between vacuums while its live
-- rows are few: the planner would scan it (measured: half the chainer's
-- time); the primary key finds the oldest rows at once.
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
	s	bigint;
	h	bytea;
	t	text;
BEGIN
	-- Not even the lock when there is nothing to do: daemons poll.  By
	-- the index: the heap holds many dead rows between vacuums.
	PERFORM 1 FROM audit_queue q ORDER BY q.id LIMIT 1;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(5346348502397761233);
	SELECT e.seq, e.hash INTO s, h FROM audit_events e ORDER BY e.seq DESC
	    LIMIT 1;
	IF NOT FOUND THEN
		s := 0;
		h := '\x0000000000000000000000000000000000000000000000000000000000000000';
	END IF;
	t := to_char(clock_timestamp() AT TIME ZONE 'UTC',
	    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
	RETURN QUERY SELECT s, encode(h, 'hex'), t, q.id, q.a, q.b
	    FROM audit_queue q ORDER BY q.id LIMIT max_events;
END $$;

CREATE FUNCTION audit_chain_put(first_seq bigint, p_at timestamptz,
    ids bigint[], hashes text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog
    SET enable_seqscan = off AS $$
DECLARE
	s	bigint;
	h	bytea;
	n	bigint;
BEGIN
	-- Re-entrant: audit_chain_take took it in this transaction.
	PERFORM pg_advisory_xact_lock(5346348502397761233);
	SELECT e.seq, e.hash INTO s, h FROM audit_events e ORDER BY e.seq DESC
	    LIMIT 1;
	IF NOT FOUND THEN
		s := 0;
		h := '\x0000000000000000000000000000000000000000000000000000000000000000';
	END IF;
	IF first_seq <> s + 1 OR array_length(ids, 1) IS NULL OR
	    array_length(ids, 1) <> array_length(hashes, 1) THEN
		RAISE EXCEPTION 'audit_chain_put: the head is %, not %', s,
		    first_seq - 1;
	END IF;
	WITH u AS (
		SELECT x.id, decode(x.hash, 'hex') AS hash, x.n
		FROM unnest(ids, hashes) WITH ORDINALITY AS x (id, hash, n)),
	    taken AS (		-- by the index, never a scan of the heap
		DELETE FROM audit_queue q WHERE q.id = ANY (ids)
		RETURNING q.*),
	    j AS (
		SELECT t.*, u.n, u.hash AS new_hash,
		    lag(u.hash, 1, h) OVER (ORDER BY u.n) AS prev_hash
		FROM taken t JOIN u ON u.id = t.id),
	    ev AS (
		INSERT INTO audit_events (seq, at, actor, role, action,
		    object_type, object_id, outcome, details, prev_hash, hash)
		SELECT first_seq + j.n - 1, p_at, j.actor, j.role, j.action,
		    j.object_type, j.object_id, j.outcome, j.details,
		    j.prev_hash, j.new_hash
		FROM j
		RETURNING 1),
	    tx AS (
		INSERT INTO audit_texts (seq, name, text)
		SELECT first_seq + j.n - 1, x.key, x.value
		FROM j, jsonb_each_text(j.texts) AS x
		RETURNING 1)
	SELECT count(*) INTO n FROM ev;
	-- Every id given was a queued event, each once, so seqs have no gap.
	IF n <> array_length(ids, 1) THEN
		RAISE EXCEPTION 'audit_chain_put: % of % events were queued',
		    n, array_length(ids, 1);
	END IF;
	RETURN first_seq + n - 1;
END $$;
REVOKE ALL ON FUNCTION audit_chain_put(bigint, timestamptz, bigint[],
    text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_chain_put(bigint, timestamptz, bigint[],
    text[]) TO sailo_app;
