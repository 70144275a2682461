-- 012_audit_take_after: the chainer reads the queue from where it left.
--
-- While a long transaction is open, the queue rows chained since it began
-- stay in the queue's index as dead entries that cannot be pruned: its
-- snapshot might still see them.  audit_chain_take() read the queue from
-- its first id, so every pass walked all of them (measured: 8 writers
-- with a 10 s transaction open, 10 % fewer acts per second, and more the
-- longer it stays open).  Now the chainer gives the highest id it took:
-- a pass reads only what was queued after it.  An id is drawn when the
-- row is inserted, not when it commits, so an event may commit below the
-- mark (the long transaction's own); the chainer starts from 0 once a
-- second (audit.c, audit_chainer_main), and whoever chains without a mark
-- (the CLI) gives 0 always.  The chain's order is the order of chaining,
-- as before: seq, not the queue's id, is the order of the trail.
DROP FUNCTION audit_chain_take(integer);

CREATE FUNCTION audit_chain_take(max_events integer, after_id bigint)
RETURNS TABLE (head_seq bigint, head_hash text, at text, id bigint, a text,
    b text)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
	s	bigint;
	h	bytea;
	t	text;
BEGIN
	-- Not even the lock when there is nothing to do: daemons poll.
	PERFORM 1 FROM audit_queue q WHERE q.id > after_id ORDER BY q.id
	    LIMIT 1;
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
	    FROM audit_queue q WHERE q.id > after_id ORDER BY q.id
	    LIMIT max_events;
END $$;
