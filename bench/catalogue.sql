-- catalogue.sql — a catalogue of :n records generated in SQL for the
-- benchmarks (retention.sh, access.sh): one transfer, :n / 100 AIPs of
-- one case file each, 100 records a case file, in the current plan's leaf
-- classes, dates 1990–2024, and Finnish titles and descriptions as a city
-- writes them ("Poikkeamislupa, Mäkelänkatu 17").  Leaves the temporary
-- tables cf and rec for the caller.  Run with psql -v n=N after a plan
-- import.  records.search stays NULL (the daemon indexes it at start),
-- or, with -v no_search=true, is left empty (nothing to index).
INSERT INTO principals (id, name) VALUES
	('00000000-0000-4000-8000-00000000b001', 'bench-bus');
INSERT INTO transfers (id, submitted_by, package_sha256, size, status,
	finished_at) VALUES ('00000000-0000-4000-8000-00000000b002',
	'00000000-0000-4000-8000-00000000b001', decode(repeat('ab', 32), 'hex'),
	1, 'accepted', now());
CREATE TEMP TABLE codes AS SELECT row_number() OVER (ORDER BY code) AS i,
	code FROM plan_classes WHERE version = (SELECT max(version) FROM
	plan_versions) AND length(code) = 8;
CREATE TEMP TABLE words AS SELECT
	'{Rakennuslupa,Pöytäkirja,Päätös,Hakemus,Lausunto,Sopimus,Lasku,'
	'Tarjous,Valitus,Muistio,Selvitys,Ilmoitus,Kuulutus,Todistus,'
	'Suunnitelma,Katselmus,Pyyntö,Vastine,Kantelu,Tilaus,Asemakaava,'
	'Poikkeamislupa,Maisematyölupa,Purkulupa,Toimenpidelupa,'
	'Rasitesopimus,Vuokrasopimus,Kauppakirja,Lainhuuto,'
	'Kiinteistörekisteriote}'::text[] AS nouns,
	'{Mäkelänkatu,Hämeentie,Mannerheimintie,Aleksanterinkatu,'
	'Fredrikinkatu,Runeberginkatu,Sturenkatu,Kustaankatu,Pengerkatu,'
	'Porvoonkatu,Helsinginkatu,Kaarlenkatu,Torkkelinkatu,Agricolankatu,'
	'Kirstinkatu,Vilhonvuorenkatu,Castréninkatu,Fleminginkatu,'
	'Kinaporinkatu,Pääskylänkatu}'::text[] AS streets;
CREATE TEMP TABLE cf AS SELECT g, md5('aip' || g)::uuid AS aip,
	md5('case' || g)::uuid AS id,
	(SELECT code FROM codes WHERE i = 1 + g % (SELECT count(*) FROM codes))
	AS code, date '1990-01-01' + (g * 7919 % 12784) AS finished,
	(SELECT streets[1 + g % 20] FROM words) AS street
	FROM generate_series(0, (:n - 1) / 100) g;
INSERT INTO aips (id, source, native_id, current_version)
	SELECT aip, '00000000-0000-4000-8000-00000000b001', 'HEL ' || g, 1 FROM cf;
INSERT INTO aip_versions (aip_id, version, transfer_id, files, bytes,
	tagmanifest_sha256) SELECT aip, 1, '00000000-0000-4000-8000-00000000b002',
	100, 100, decode(repeat('cd', 32), 'hex') FROM cf;
INSERT INTO case_files (id, aip_id, version, native_id, title, function_code,
	finished) SELECT id, aip, 1, 'HEL ' || g, 'Rakennusvalvonta, ' ||
	street, code, finished FROM cf;
CREATE TEMP TABLE rec AS SELECT md5('rec' || r)::uuid AS id, cf.aip,
	cf.id AS case_id, cf.code, cf.finished,
	cf.finished - (r % 400) AS created, r,
	(SELECT nouns[1 + (r * 7) % 30] FROM words) || ', ' || cf.street ||
	' ' || (1 + r % 97) AS title
	FROM generate_series(0, :n - 1) r JOIN cf ON cf.g = r / 100;
INSERT INTO records (id, aip_id, version, case_file_id, transfer_id,
	native_id, title, description, function_code, created, publicity,
	search)
	SELECT id, aip, 1, case_id, '00000000-0000-4000-8000-00000000b002',
	'R' || r, title, 'Diaarinumero ' || r || '/2024', code, created,
	CASE WHEN r % 10 = 0 THEN 'Salassa pidettävä' ELSE 'Julkinen' END,
	CASE WHEN :no_search THEN ''::tsvector END
	FROM rec;
