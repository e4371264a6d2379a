-- creditledger 0.2.0 -> 0.3.0 (assembled by the Makefile from
-- sql/upgrade-0.3.0/*.sql in file name order; edit those files, not the
-- assembled script).
--
-- Release 0.3.0 closes the security holes of 0.2.0 (CONTRACT.md, "Security
-- model") and makes BCP runs consistent under load.  CREATE EXTENSION at
-- 0.3.0 runs 0.1.0, 0.1.0--0.2.0 and this delta, so a fresh install and an
-- upgrade are the same objects (TAP 007_upgrade).

\echo Use "ALTER EXTENSION creditledger UPDATE TO '0.3.0'" to load this file. \quit

