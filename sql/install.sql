-- install: the extension installs cleanly and follows the DBA conventions.
CREATE EXTENSION creditledger;

-- the schema is fixed and the extension is not relocatable
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname = 'creditledger';

-- every function, view and table has a comment
SELECT c.relname, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'creditledger'::regnamespace
   AND c.relkind IN ('r', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.oid::regprocedure
  FROM pg_proc p
 WHERE p.pronamespace = 'creditledger'::regnamespace
   AND obj_description(p.oid, 'pg_proc') IS NULL;

-- no function is executable by PUBLIC
SELECT p.oid::regprocedure
  FROM pg_proc p
 WHERE p.pronamespace = 'creditledger'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');

-- functions that touch ledger tables run as owner with a pinned search_path
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'creditledger'::regnamespace
 ORDER BY p.proname;

-- every table and sequence is dumped with the data
SELECT c.relname, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'creditledger'::regnamespace
   AND c.relkind IN ('r', 'S')
   AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'creditledger')::oid[])
 ORDER BY 1;
SELECT c AS dumped
  FROM (SELECT unnest(extconfig)::regclass AS c FROM pg_extension
         WHERE extname = 'creditledger') AS s
 ORDER BY c::text;

-- the views and their columns
SELECT table_name, string_agg(column_name, ', ' ORDER BY ordinal_position)
  FROM information_schema.columns
 WHERE table_schema = 'creditledger' AND table_name IN ('accounts', 'journal', 'transfers')
 GROUP BY table_name ORDER BY table_name;

-- a misspelt creditledger.* setting is refused (the prefix is reserved)
LOAD 'creditledger';
SET creditledger.no_such_setting = 1;
