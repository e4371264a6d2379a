# Upgrade: ALTER EXTENSION creditledger UPDATE from 0.1.0 to 0.2.0 to 0.3.0.
#
# One node with the (current) library preloaded, its worker serving database
# "postgres" (the upgraded one) with hold expiry every 200 ms and scheduled
# BCP runs every 500 ms: both periodic tasks wait quietly while their
# functions do not exist yet.
#
#  (a) CREATE EXTENSION creditledger VERSION '0.1.0': no credit or BCP
#      objects; the new library serves the old SQL (transfers, a multi-leg
#      entry, a reversal, buffered and split accounts, verify_chain(),
#      metrics()); the worker flushes and counts no errors.  The worker is
#      then paused so that buffered postings are still pending at the
#      upgrade;
#  (b) ALTER EXTENSION creditledger UPDATE TO '0.2.0', then UPDATE: 0.3.0; accounts,
#      transfers, journal and balances unchanged (the pending buffered
#      postings included), verify_chain() empty, bcp_run passes (22 rules, transfers_consistent
#      included: the row hashes the upgrade computed are right);
#      resumed, the worker drains the buffer; the credit functions work;
#      without a restart the worker starts the new periodic tasks: it
#      releases a due hold and records scheduled BCP runs, without errors;
#  (c) a fresh CREATE EXTENSION (0.3.0, which runs the current script
#      assembled from sql/src/ directly, not the chain of deltas) in another
#      database has the same objects as the upgraded one, compared by name
#      (creation order, hence OIDs, differ): the extension's members, function
#      definitions, views, columns, constraints, indexes, triggers,
#      comments, privileges, pg_extension_config_dump registrations and the
#      built-in BCP rules;
#  (d) the upgraded database survives pg_dump/pg_restore: chains intact,
#      bcp_run passes on the copy.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
# The worker is configured only once 0.1.0 is installed (below), so that it
# finds the extension at once instead of retrying every few seconds.
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = ''
creditledger.hold_expiry_interval = '200ms'
creditledger.bcp_interval = '500ms'
# no rebalancing sweeps of the split account: they would post while the
# test compares databases
creditledger.sweep_interval = 0
});
$node->start;

my $bindir = $node->config_data('--bindir');

my $up = 'postgres';    # the database upgraded from 0.1.0

# sql DB, SQL: the result of SQL in DB, without NOTICEs (bcp_run's progress).
sub sql
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, "SET client_min_messages = warning;\n$sql");
}

###########################################################################
# (a) version 0.1.0
###########################################################################

sql($up, q{CREATE EXTENSION creditledger VERSION '0.1.0'});
is(sql($up, q{SELECT extversion FROM pg_extension WHERE extname = 'creditledger'}),
	'0.1.0', 'version 0.1.0 installed explicitly');
is( sql($up,
		q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'creditledger'::regnamespace
		     AND (proname LIKE '%credit%' OR proname LIKE '%bcp%' OR proname LIKE '%digest%')}),
	'0', 'no credit, BCP or digest functions at 0.1.0');
$node->append_conf('postgresql.conf', "creditledger.database = 'postgres'");
$node->restart;
ok( $node->poll_query_until(
		$up, q{SELECT state NOT IN ('waiting for extension', 'starting', 'stopped')
		   FROM creditledger.stat_workers
		  WHERE pid IN (SELECT pid FROM pg_stat_activity
		                 WHERE backend_type = 'creditledger worker')}),
	'the worker found the 0.1.0 extension');

sql($up, q{
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('alice', 'CNY');
SELECT creditledger.open_account('bob', 'CNY', 'credit', -300, metadata => '{"tier": "gold"}');
SELECT creditledger.open_account('fees', 'CNY', 'credit', NULL);
SELECT creditledger.open_account('shop', 'CNY', hot_mode => 'buffered');
SELECT creditledger.open_account('pool', 'CNY', hot_mode => 'split', shards => 4);
SELECT creditledger.open_account('usd', 'USD', 'debit', NULL);
SELECT creditledger.open_account('carol', 'USD');

SELECT creditledger.transfer('dep-1', creditledger.account_id('bank'),
                             creditledger.account_id('alice'), 10000, 'deposit', '{"ch": 1}');
SELECT creditledger.transfer('dep-2', creditledger.account_id('bank'),
                             creditledger.account_id('pool'), 4000);
SELECT creditledger.transfer('dep-3', creditledger.account_id('usd'),
                             creditledger.account_id('carol'), 900);
SELECT creditledger.transfer('buy-' || g, creditledger.account_id('alice'),
                             creditledger.account_id('shop'), 10 * g)
  FROM generate_series(1, 10) g;
SELECT creditledger.transfer('pay-' || g, creditledger.account_id('pool'),
                             creditledger.account_id('bob'), 100 + g)
  FROM generate_series(1, 6) g;
SELECT creditledger.post_entry('order-1',
    jsonb_build_array(
        jsonb_build_object('account', creditledger.account_id('alice'), 'debit', 1000),
        jsonb_build_object('account', creditledger.account_id('bob'), 'credit', 900),
        jsonb_build_object('account', creditledger.account_id('fees'), 'credit', 100)));
SELECT creditledger.reverse('pay-2', 'pay-2:refund', 'returned');
});
ok( $node->poll_query_until(
		$up, 'SELECT coalesce(sum(buffered_count), 0) = 0 FROM creditledger.accounts'),
	'0.1.0: the worker drains the buffered account');
is(sql($up, 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', '0.1.0: verify_chain() with the new library: every chain intact');
like(sql($up, 'SELECT creditledger.metrics()'),
	qr/^creditledger_operation_calls_total\{[^}]*operation="transfer"[^}]*\} [1-9]\d*$/m,
	'0.1.0: metrics() works with the new library');
unlike(sql($up, 'SELECT creditledger.metrics()'),
	qr/creditledger_bcp_/, '0.1.0: metrics() has no BCP lines');
# Several cycles of both periodic tasks: they wait for their functions.
my $cycles = sql($up, 'SELECT cycles FROM creditledger.stat_workers');
sleep(1);
is( sql($up,
		qq{SELECT cycles > $cycles AND errors = 0 AND holds_expired = 0
		    FROM creditledger.stat_workers WHERE database = 'postgres'}),
	't', '0.1.0: the worker cycles without errors (periodic tasks wait for their functions)');

# Pause the worker: buffered postings are pending at the upgrade.
$node->safe_psql('postgres',
	'ALTER SYSTEM SET creditledger.flush_interval = 0; SELECT pg_reload_conf()');
ok( $node->poll_query_until(
		$up, q{SELECT state = 'paused' FROM creditledger.stat_workers}),
	'the worker is paused');
sql($up, q{
SELECT creditledger.transfer('late-' || g, creditledger.account_id('alice'),
                             creditledger.account_id('shop'), g)
  FROM generate_series(1, 5) g;
});
is(sql($up, q{SELECT buffered_count FROM creditledger.accounts WHERE code = 'shop'}),
	'5', 'five buffered postings pending before the upgrade');

my %queries = (
	# the columns of 0.1.0 (0.3.0 appends held, available and block)
	accounts  => 'SELECT account_id, code, currency, normal_side, balance, posted_balance, '
	  . 'buffered_amount, buffered_count, version, min_balance, hot_mode, shards, status '
	  . 'FROM creditledger.accounts ORDER BY account_id',
	transfers => 'SELECT * FROM creditledger.transfers ORDER BY transfer_id',
	journal   => 'SELECT * FROM creditledger.journal ORDER BY entry_id',
	balances  => 'SELECT account_id, creditledger.balance(account_id) '
	  . 'FROM creditledger.accounts ORDER BY account_id',
);
my %before;
$before{$_} = sql($up, $queries{$_}) for keys %queries;
is(sql($up, 'SELECT count(*) FROM creditledger.journal'),
	'48', 'forty-eight journal entries before the upgrade');

###########################################################################
# (b) ALTER EXTENSION UPDATE
###########################################################################

# one release at a time, as a site that skipped none would, then to the end
sql($up, q{ALTER EXTENSION creditledger UPDATE TO '0.2.0'});
is(sql($up, q{SELECT extversion FROM pg_extension WHERE extname = 'creditledger'}),
	'0.2.0', 'ALTER EXTENSION creditledger UPDATE TO 0.2.0');
# a digest taken by 0.2.0 (CLD1) keeps verifying after the upgrade
my $cld1_digest = sql($up,
	q{SELECT digest_id || ',''\x' || encode(digest, 'hex') || '''' FROM creditledger.ledger_digest()});
sql($up, 'ALTER EXTENSION creditledger UPDATE');
is(sql($up, q{SELECT extversion FROM pg_extension WHERE extname = 'creditledger'}),
	'0.3.0', 'ALTER EXTENSION creditledger UPDATE reaches 0.3.0');
# as the upgrade notes say: setup_roles() again (0.3.0 adds the role that
# scheduled BCP runs execute as)
sql($up, 'SELECT creditledger.setup_roles()');
# credit_line_state and link_credit_line are re-created by 0.3.0 (more
# columns, a control argument): setup_roles() grants them again
is( sql($up,
		q{SELECT has_function_privilege('creditledger_app', 'creditledger.credit_line_state(bigint)', 'EXECUTE'),
		         has_function_privilege('creditledger_auditor', 'creditledger.credit_line_state(bigint)', 'EXECUTE'),
		         has_function_privilege('creditledger_admin', 'creditledger.link_credit_line(bigint, bigint, text)', 'EXECUTE'),
		         has_function_privilege('creditledger_app', 'creditledger.link_credit_line(bigint, bigint, text)', 'EXECUTE'),
		         has_function_privilege('creditledger_admin', 'creditledger.set_temporary_limit(bigint, text, bigint, timestamptz, timestamptz)', 'EXECUTE')}),
	't|t|t|f|t', 'after setup_roles(): the re-created credit functions are granted as before, the new ones to the admin');
is(sql($up, "SELECT creditledger.verify_digest($cld1_digest)"),
	't', 'the CLD1 digest taken at 0.2.0 verifies after the upgrade');
is(sql($up, q{SELECT count(*) FROM creditledger.ledger_transfers WHERE row_hash IS NULL}),
	'0', 'the upgrade gave every transfer of 0.1.0 and 0.2.0 its CLT1 row hash');

foreach my $what (sort keys %queries)
{
	is(sql($up, $queries{$what}), $before{$what}, "$what unchanged by the upgrade");
}
is( sql($up, q{SELECT creditledger.balance(creditledger.account_id('alice'))}),
	'8435', 'alice: 10000 - 550 - 1000 - 15');
is(sql($up, 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'verify_chain() after the upgrade: every chain intact');
# One run (each costs a plan of every rule): how many rules ran, which did not pass.
my ($ran, $failed) = split /\|/, sql($up, q{
WITH r AS (SELECT * FROM creditledger.bcp_run(record => false))
SELECT (SELECT count(*) FROM r),
       (SELECT string_agg(rule || ' ' || status || ' ' || coalesce(sample::text, ''), ', ')
          FROM r WHERE status <> 'pass')}), -1;
is($failed, '', 'bcp_run() after the upgrade: every rule passes on the old data');
is($ran, '25', '... all 25 built-in rules ran');

$node->safe_psql('postgres',
	'ALTER SYSTEM RESET creditledger.flush_interval; SELECT pg_reload_conf()');
ok( $node->poll_query_until(
		$up, 'SELECT coalesce(sum(buffered_count), 0) = 0 FROM creditledger.accounts'),
	'resumed, the worker drains the postings buffered before the upgrade');
is( sql($up,
		q{SELECT count(*) || ' ' || sum(amount) FROM creditledger.journal
		   WHERE voucher LIKE 'late-%' AND account_id = creditledger.account_id('shop')}),
	'5 15', 'each of them became one journal entry');

# The credit functions work on the upgraded database.
sql($up, q{
SELECT creditledger.create_credit_line('G', 'CNY', 10000);
SELECT creditledger.create_credit_line('P', 'CNY', 6000);
SELECT creditledger.create_credit_line('C', 'CNY', 5000,
    ARRAY[creditledger.credit_line_id('G'), creditledger.credit_line_id('P')]);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('C'), 2000, 'h1');
SELECT creditledger.credit_use('h1', 'd1', 1500);
SELECT creditledger.credit_return('d1', 'r1', 500);
SELECT creditledger.credit_use_direct(creditledger.credit_line_id('C'), 300, 'd2');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('C'), 100, 'h2');
});
is( sql($up,
		q{SELECT frozen || '/' || used || '/' || returned || '/' || available
		    FROM creditledger.credit_line_state(creditledger.credit_line_id('G'))}),
	'600/1300/500/8100', 'credit lines work after the upgrade (G: through the diamond)');
my ($ret, $stdout, $stderr) = $node->psql(
	$up,
	q{SELECT creditledger.credit_freeze(creditledger.credit_line_id('C'), 4000, 'too-much')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  LD002: /, 'a freeze over the limit: LD002');
sql($up, q{SELECT creditledger.credit_freeze(creditledger.credit_line_id('C'), 100, 'due',
                                                   now() + interval '1 second')});

# Without a restart, the worker takes up the new periodic tasks.
ok( $node->poll_query_until(
		$up, q{SELECT status = 'expired' AND remaining = 0
		   FROM creditledger.credit_holds WHERE ref = 'due'}),
	'the worker releases a due hold after the upgrade');
ok( $node->poll_query_until(
		$up, 'SELECT count(DISTINCT run_id) >= 2 FROM creditledger.bcp_results'),
	'the worker records scheduled BCP runs after the upgrade');
is( sql($up, q{SELECT count(*) FROM creditledger.bcp_results WHERE status <> 'pass'}),
	'0', 'every scheduled run passes');
like(sql($up, 'SELECT creditledger.metrics()'),
	qr/^creditledger_bcp_runs_total [1-9]\d*$/m, 'metrics() has the BCP lines');
is( sql($up, q{SELECT holds_expired || ' ' || errors
		   FROM creditledger.stat_workers WHERE database = 'postgres'}),
	'1 0', 'the worker counted the released hold and no errors');
is(sql($up, 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'verify_chain(): money and credit chains intact');
my $digest = sql($up,
	q{SELECT digest_id || ',''\x' || encode(digest, 'hex') || '''' FROM creditledger.ledger_digest()});
is(sql($up, "SELECT creditledger.verify_digest($digest)"),
	't', 'ledger_digest()/verify_digest() work after the upgrade');

###########################################################################
# (c) the same objects as a fresh install
###########################################################################

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
sql('fresh', 'CREATE EXTENSION creditledger');
sql('fresh', 'SELECT creditledger.setup_roles()');
is(sql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'creditledger'}),
	'0.3.0', 'a fresh CREATE EXTENSION installs 0.3.0');

my %catalog = (
	'extension members' => q{
SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
 WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'creditledger')
   AND deptype = 'e' ORDER BY 1},
	'function definitions' => q{
SELECT p.oid::regprocedure, pg_get_functiondef(p.oid) FROM pg_proc p
 WHERE p.pronamespace = 'creditledger'::regnamespace AND p.prokind <> 'a'
 ORDER BY p.oid::regprocedure::text},
	'function properties' => q{
SELECT p.oid::regprocedure, p.prosecdef, p.provolatile, p.proparallel, p.proisstrict,
       p.proconfig, p.proacl, p.proowner::regrole
  FROM pg_proc p WHERE p.pronamespace = 'creditledger'::regnamespace
 ORDER BY p.oid::regprocedure::text},
	'views' => q{
SELECT c.oid::regclass, pg_get_viewdef(c.oid) FROM pg_class c
 WHERE c.relnamespace = 'creditledger'::regnamespace AND c.relkind = 'v'
 ORDER BY c.oid::regclass::text},
	'columns' => q{
SELECT c.oid::regclass, c.relkind, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'creditledger'::regnamespace ORDER BY c.oid::regclass::text, 3},
	'constraints' => q{
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE connamespace = 'creditledger'::regnamespace ORDER BY conrelid::regclass::text, 2},
	'indexes' => q{
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = 'creditledger'::regnamespace ORDER BY indexrelid::regclass::text},
	'triggers' => q{
SELECT tgrelid::regclass, tgname, pg_get_triggerdef(t.oid), tgenabled FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'creditledger'::regnamespace AND NOT tgisinternal
 ORDER BY tgrelid::regclass::text, 2},
	'relation privileges and owners' => q{
SELECT oid::regclass, relkind, relacl, relowner::regrole FROM pg_class
 WHERE relnamespace = 'creditledger'::regnamespace ORDER BY oid::regclass::text},
	'comments' => q{
SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
  FROM pg_description d
  JOIN pg_depend e ON e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e'
   AND e.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'creditledger')
 ORDER BY 1, 2},
	'undocumented members' => q{
SELECT pg_describe_object(e.classid, e.objid, 0) FROM pg_depend e
 WHERE e.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'creditledger')
   AND e.deptype = 'e'
   AND e.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
   AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE e.classid = 'pg_class'::regclass
                     AND c.oid = e.objid AND c.relkind IN ('S', 'i'))
   AND obj_description(e.objid, e.classid::regclass::name) IS NULL
 ORDER BY 1},
	'config dump registrations' => q{
SELECT c::regclass, w FROM pg_extension,
       unnest(extconfig, extcondition) AS u(c, w)
 WHERE extname = 'creditledger' ORDER BY c::regclass::text},
	'built-in BCP rules' => q{
SELECT name, description, severity, check_sql, enabled FROM creditledger.bcp_rules
 WHERE builtin ORDER BY name},
	'sequences' => q{
SELECT seqrelid::regclass, seqtypid::regtype, seqstart, seqincrement, seqmax, seqmin,
       seqcache, seqcycle FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
 WHERE c.relnamespace = 'creditledger'::regnamespace ORDER BY seqrelid::regclass::text},
);
foreach my $what (sort keys %catalog)
{
	my $fresh = sql('fresh', $catalog{$what});
	is(sql($up, $catalog{$what}), $fresh, "$what: the upgraded database = a fresh install");
	isnt($fresh, '', "$what: the comparison is not empty")
	  unless $what eq 'undocumented members';
}
is(sql('fresh', $catalog{'undocumented members'}),
	'', 'every function, table and view of the extension has a COMMENT');

###########################################################################
# (d) dump and restore of the upgraded database
###########################################################################

my $dump = $node->basedir . '/upgraded.dump';
$node->command_ok([ "$bindir/pg_dump", '-Fc', '-f', $dump, '-d', $up ],
	'pg_dump -Fc of the upgraded database');
$node->safe_psql('postgres', 'CREATE DATABASE restored TEMPLATE template0');
$node->command_ok(
	[ "$bindir/pg_restore", '--exit-on-error', '-d', 'restored', $dump ],
	'pg_restore of the upgraded database');
foreach my $what (sort keys %queries)
{
	is(sql('restored', $queries{$what}), sql($up, $queries{$what}),
		"$what identical in the restored copy of the upgraded database");
}
is(sql('restored', 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'the restored copy: chains intact');
is( sql('restored',
		q{SELECT count(*) FROM creditledger.bcp_run(record => false) WHERE status <> 'pass'}),
	'0', 'the restored copy: bcp_run passes');
is(sql('restored', "SELECT creditledger.verify_digest($digest)"),
	't', 'the restored copy: the digest taken after the upgrade verifies');

$node->stop;

done_testing();
