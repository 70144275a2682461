-- 006_plan: the information-management plan (tiedonhallintasuunnitelma),
-- imported from JHS 191 XML (retention/plan.c reads it, plan_store.c
-- stores it).  Every import of new bytes is a new version; records keep
-- the version and class that decided their retention, so versions are
-- never changed or removed.

CREATE TABLE plan_versions (
	version		integer PRIMARY KEY CHECK (version > 0),
	sha256		bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
	title		text,
	organisation	text,
	tos_version	text,			-- the plan's own TosVersio
	imported_by	text NOT NULL,		-- principal name
	imported_at	timestamptz NOT NULL DEFAULT now(),
	lenient		boolean NOT NULL,
	classes		integer NOT NULL,
	record_types	integer NOT NULL,
	findings	jsonb NOT NULL		-- what the import said
);

CREATE TABLE plan_classes (
	version		integer NOT NULL REFERENCES plan_versions (version),
	code		text NOT NULL,		-- normalised: "10 03 00 09"
	title		text,
	retention_years	integer NOT NULL CHECK (retention_years >= -1),
	basis		text,
	trigger		text,
	publicity	smallint CHECK (publicity BETWEEN 1 AND 4),
	-- [{name, own, retention_years, basis, trigger, publicity}]
	record_types	jsonb NOT NULL,
	line		integer,
	PRIMARY KEY (version, code)
);

CREATE FUNCTION plan_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'plan versions are kept as imported: % on % refused',
	    TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER plan_versions_keep BEFORE UPDATE OR DELETE ON plan_versions
	FOR EACH ROW EXECUTE FUNCTION plan_refuse_change();
CREATE TRIGGER plan_classes_keep BEFORE UPDATE OR DELETE ON plan_classes
	FOR EACH ROW EXECUTE FUNCTION plan_refuse_change();

GRANT SELECT, INSERT ON plan_versions, plan_classes TO sailo_app;
