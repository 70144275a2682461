-- 011_search_access: Finnish full-text search over the catalogue, and the
-- clearance rule for restricted records.
--
-- Search.  PostgreSQL's finnish snowball stemmer alone misses consonant
-- gradation ("rakennusluvan" → rakennusluv, "rakennuslupa" → rakennuslu),
-- so Sailo lemmatises with Voikko when a record is catalogued: each
-- word's base forms and compound parts ("rakennuslupa rakennus lupa") go
-- into `search` (simple configuration) beside the snowball stems of the
-- title, description and case title.  A query word matches by its base
-- forms, or its stem when Voikko does not know it
-- (search_tsquery).  Disposal sets it to NULL with the title.
ALTER TABLE records ADD COLUMN search tsvector;
CREATE INDEX records_search ON records USING gin (search);
GRANT UPDATE (search) ON records TO sailo_app;

-- AND and OR over many tsqueries.
CREATE AGGREGATE tsquery_and_agg (tsquery) (SFUNC = tsquery_and,
	STYPE = tsquery);
CREATE AGGREGATE tsquery_or_agg (tsquery) (SFUNC = tsquery_or,
	STYPE = tsquery);

-- What a record's search column holds: the snowball stems of its text and
-- the simple lexemes of its lemmas.
CREATE FUNCTION search_vector(text_ text, lemmas text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT to_tsvector('finnish', coalesce(text_, '')) ||
	    to_tsvector('simple', coalesce(lemmas, ''))
$$;

-- q: [{"w": word, "l": [base form, …]}, …] from the query's words.  Every
-- word must match (AND).  A word Voikko knows matches by any of its base
-- forms (OR), which the index holds for every inflected form of it; one it
-- does not know (a name, a code) by its snowball stem.  Not both: the
-- planner would count the two as independent and misjudge how many rows
-- match, and walk the whole table for a rare combination.  A stop word of
-- the finnish configuration ("ja", "on") drops out whole; NULL when
-- nothing is left.
CREATE FUNCTION search_tsquery(q jsonb) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT tsquery_and_agg(alt) FROM (
		SELECT tsquery_or_agg(x) AS alt
		FROM jsonb_array_elements(q) WITH ORDINALITY AS e(v, n),
		LATERAL (SELECT plainto_tsquery('finnish', e.v->>'w') AS x
			WHERE jsonb_array_length(e.v->'l') = 0
			UNION ALL
			SELECT plainto_tsquery('simple', l)
			FROM jsonb_array_elements_text(e.v->'l') AS l) s
		WHERE numnode(x) > 0 AND numnode(plainto_tsquery('finnish',
		    e.v->>'w')) > 0
		GROUP BY n) t
$$;

-- Restricted records (tiedonhallintalaki § 17, julkisuuslaki § 24): a
-- record whose publicity is "Salassa pidettävä" or "Osittain
-- salassapidettävä", or whose PersonalData names special categories
-- (2011: "arkaluontoisia"; 2019: "erityisiä henkilötietoryhmiä") or
-- criminal convictions, is readable only with that clearance: the
-- publicity class itself, or "sensitive_personal_data".  The one place
-- the rule is written; routes and search ask it.
CREATE FUNCTION record_readable(publicity text, personal_data text,
    clearance text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (publicity IS NULL
		OR publicity NOT IN ('Salassa pidettävä',
		    'Osittain salassapidettävä')
		OR publicity = ANY (clearance))
	    AND (personal_data IS NULL
		OR personal_data NOT IN (
		    'sisältää arkaluontoisia henkilötietoja',
		    'sisältää erityisiä henkilötietoryhmiä',
		    'sisältää rikostuomioihin ja rikkomuksiin liittyviä henkilötietoja')
		OR 'sensitive_personal_data' = ANY (clearance))
$$;
