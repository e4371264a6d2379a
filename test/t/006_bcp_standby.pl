# BCP on a hot standby, and scheduled BCP runs by the background worker.
#
# A primary (library preloaded, worker serving "postgres" with sweeps off,
# streaming allowed) with a ledger: plain, buffered and split accounts, transfers, a
# multi-leg entry, a reversal, credit lines in a diamond (a customer line
# under a group line and a product line) and a hot line, with holds,
# unfreezes, drawdowns (from holds and direct) and returns.  A streaming
# standby is made from a base backup (pg_basebackup -R), more work is posted
# after it started, and it catches up.
#
#  (a) on the standby (read-only, in recovery): the data is the primary's;
#      bcp_run(record => false) runs every enabled rule (25 built-ins) and
#      all pass; verify_chain() is empty; a digest taken on the primary
#      verifies; metrics() works; bcp_run(record => true) and ledger_digest()
#      are refused as writes in a read-only transaction (25006).  The
#      standby's copy of the worker (creditledger.database is set there
#      too) does not start during recovery and nothing creditledger-related
#      is logged as a warning or error;
#  (b) scheduled runs on the primary: creditledger.bcp_interval = 500ms
#      (ALTER SYSTEM + reload): the worker records runs in bcp_results, one
#      row per enabled rule, all pass; the history replicates to the
#      standby;
#  (c) an invariant broken behind the guard (an account's floor raised above
#      its balance as superuser with session_replication_role = replica):
#      the next scheduled run reports balance_floor, and only it, in
#      metrics() (creditledger_bcp_rule_failing ... 1, mismatches 1) and at
#      WARNING in the server log; the standby sees the same; fixed, the next
#      run shows it passing again (... 0); the worker counted no errors;
#  (d) the standby promoted: its worker starts, finds the extension, and
#      bcp_run(record => true) works there.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('bcp_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
# no rebalancing sweeps of the split account: they would post while the
# test compares the primary with the standby
creditledger.sweep_interval = 0
});
$primary->start;

# sql NODE, SQL: the result of SQL in "postgres" on NODE, without bcp_run's
# per-rule progress NOTICEs.
sub sql
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', "SET client_min_messages = warning;\n$sql");
}

# metric NODE, NAME: the sample lines of metrics() on NODE starting with NAME.
sub metric
{
	my ($node, $name) = @_;
	return sql($node,
		qq{SELECT line FROM regexp_split_to_table(creditledger.metrics(), E'\\n') AS line
		    WHERE starts_with(line, '$name') ORDER BY line});
}

###########################################################################
# The ledger on the primary
###########################################################################

sql($primary, q{
CREATE EXTENSION creditledger;
-- scheduled runs execute as creditledger_bcp_runner
SELECT creditledger.setup_roles();

SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('alice', 'CNY');
SELECT creditledger.open_account('bob', 'CNY', 'credit', -500);
SELECT creditledger.open_account('fees', 'CNY', 'credit', NULL);
SELECT creditledger.open_account('merchant', 'CNY', hot_mode => 'buffered');
SELECT creditledger.open_account('payout', 'CNY', hot_mode => 'split', shards => 4);

SELECT creditledger.transfer('dep-1', creditledger.account_id('bank'),
                             creditledger.account_id('alice'), 10000, 'deposit');
SELECT creditledger.transfer('dep-2', creditledger.account_id('bank'),
                             creditledger.account_id('payout'), 5000);
SELECT creditledger.transfer('pay-' || g, creditledger.account_id('alice'),
                             creditledger.account_id('merchant'), 100 + g)
  FROM generate_series(1, 10) g;
SELECT creditledger.transfer('out-' || g, creditledger.account_id('payout'),
                             creditledger.account_id('bob'), 50 * g)
  FROM generate_series(1, 5) g;
SELECT creditledger.post_entry('order-1',
    jsonb_build_array(
        jsonb_build_object('account', creditledger.account_id('alice'), 'debit', 1200),
        jsonb_build_object('account', creditledger.account_id('bob'), 'credit', 1000),
        jsonb_build_object('account', creditledger.account_id('fees'), 'credit', 200)));
SELECT creditledger.reverse('pay-3', 'pay-3:refund', 'duplicate');

-- Credit: a diamond (C under G and P) and a hot line H over D.
SELECT creditledger.create_credit_line('G', 'CNY', 100000);
SELECT creditledger.create_credit_line('P', 'CNY', 50000);
SELECT creditledger.create_credit_line('C', 'CNY', 20000,
    ARRAY[creditledger.credit_line_id('G'), creditledger.credit_line_id('P')]);
SELECT creditledger.create_credit_line('H', 'CNY', 30000);
SELECT creditledger.set_credit_line_hot(creditledger.credit_line_id('H'), 4);
SELECT creditledger.create_credit_line('D', 'CNY', 10000, ARRAY[creditledger.credit_line_id('H')],
                                       revolving => false);

SELECT creditledger.credit_freeze(creditledger.credit_line_id('C'), 3000, 'h1');
SELECT creditledger.credit_use('h1', 'u1', 2000);
SELECT creditledger.credit_unfreeze('h1', 'r1', 500);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('C'), 700, 'h2',
                                  now() + interval '1 day');
SELECT creditledger.credit_use_direct(creditledger.credit_line_id('C'), 400, 'u2');
SELECT creditledger.credit_return('u1', 'ret1', 800);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('D'), 2500, 'h3');
SELECT creditledger.credit_use('h3', 'u3', release_rest => false);
SELECT creditledger.credit_return('u3', 'ret3', 1000);
SELECT creditledger.credit_use_direct(creditledger.credit_line_id('D'), 600, 'u4');
});

# A base backup and a streaming standby from it.
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('bcp_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# More work after the backup: it reaches the standby by streaming.
sql($primary, q{
SELECT creditledger.transfer('late-' || g, creditledger.account_id('bank'),
                             creditledger.account_id('merchant'), g)
  FROM generate_series(1, 20) g;
SELECT creditledger.transfer('late-out', creditledger.account_id('payout'),
                             creditledger.account_id('alice'), 777);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('C'), 250, 'h4');
SELECT creditledger.credit_use('h4', 'u5', release_rest => true);
});
my ($digest_id, $digest) =
  split /\|/, sql($primary, q{SELECT digest_id, encode(digest, 'hex') FROM creditledger.ledger_digest()});
ok($primary->poll_query_until('postgres',
		'SELECT coalesce(sum(buffered_count), 0) = 0 FROM creditledger.accounts'),
	'the primary worker drained the buffered account');
$primary->wait_for_catchup($standby);

###########################################################################
# (a) the standby
###########################################################################

is(sql($standby, 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

my %same = (
	accounts => 'SELECT * FROM creditledger.accounts ORDER BY account_id',
	journal  => 'SELECT * FROM creditledger.journal ORDER BY entry_id',
	credit_lines   => 'SELECT * FROM creditledger.credit_lines ORDER BY line_id',
	credit_journal => 'SELECT * FROM creditledger.credit_journal ORDER BY entry_id',
);
foreach my $what (sort keys %same)
{
	is(sql($standby, $same{$what}), sql($primary, $same{$what}),
		"$what: the standby has the primary's rows");
}
cmp_ok(sql($standby, 'SELECT count(*) FROM creditledger.journal'), '>', 60,
	'the comparison is not vacuous');

my $enabled = sql($standby, 'SELECT count(*) FROM creditledger.bcp_rules WHERE enabled');
is($enabled, '25', 'the 25 built-in rules are enabled on the standby');
is( sql($standby,
		q{SELECT rule, status, mismatches, sample FROM creditledger.bcp_run(record => false)
		   WHERE status <> 'pass'}),
	'',
	'bcp_run(record => false) on the standby: every rule passes');
is(sql($standby, 'SELECT count(*) FROM creditledger.bcp_run(record => false)'),
	$enabled, 'bcp_run(record => false) on the standby runs every enabled rule');
is(sql($standby, 'SELECT count(*) FROM creditledger.bcp_run(ARRAY[\'balance_floor\'], false)'),
	'1', 'a named rule runs on the standby too');
is(sql($standby, 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'verify_chain() on the standby: every chain intact');
is(sql($standby, "SELECT creditledger.verify_digest($digest_id, '\\x$digest')"),
	't', 'a digest taken on the primary verifies on the standby');
like(metric($standby, 'creditledger_bcp_runs_total'), qr/^creditledger_bcp_runs_total 0$/,
	'metrics() works on the standby (no recorded runs yet)');

# The standby's log so far: its creditledger worker must not have complained.
# (Read before this test provokes errors of its own.)
my $standby_log = slurp_file($standby->logfile);
my @complaints = grep { /\b(WARNING|ERROR|FATAL|PANIC):/ } split /\n/, $standby_log;
is(join("\n", @complaints), '', 'the standby logged no warnings or errors');
is( sql($standby,
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'creditledger worker'}),
	'0', 'no creditledger worker runs on the standby during recovery');
unlike($standby_log, qr/creditledger worker started/,
	'... it was never started there (BgWorkerStart_RecoveryFinished)');
note 'stat_workers on the standby: '
  . sql($standby, q{SELECT string_agg(worker || ' ' || coalesce(state, '') || ' errors '
                                       || errors, ', ') FROM creditledger.stat_workers});

# Writes are refused as such.
my ($ret, $stdout, $stderr) = $standby->psql(
	'postgres', 'SELECT * FROM creditledger.bcp_run(record => true)',
	extra_params => [ '-v', 'VERBOSITY=verbose', '-v', 'ON_ERROR_STOP=1' ]);
isnt($ret, 0, 'bcp_run(record => true) fails on the standby');
like($stderr, qr/ERROR:  25006: /, '... with SQLSTATE 25006 (read-only transaction)');
($ret, $stdout, $stderr) = $standby->psql(
	'postgres', 'SELECT * FROM creditledger.ledger_digest()',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  25006: /, 'ledger_digest() on the standby: 25006 too');
is(sql($standby, 'SELECT count(*) FROM creditledger.bcp_results'),
	'0', 'nothing was recorded');

###########################################################################
# (b) scheduled runs on the primary
###########################################################################

is(sql($primary, 'SELECT count(*) FROM creditledger.bcp_results'),
	'0', 'no recorded runs on the primary before scheduling');
$primary->safe_psql('postgres',
	q{ALTER SYSTEM SET creditledger.bcp_interval = '500ms'; SELECT pg_reload_conf()});
ok( $primary->poll_query_until(
		'postgres', 'SELECT count(DISTINCT run_id) >= 2 FROM creditledger.bcp_results'),
	'the worker records scheduled runs (bcp_interval = 500ms, SIGHUP)');
is( sql($primary,
		q{SELECT rule, status, mismatches FROM creditledger.bcp_results WHERE status <> 'pass'}),
	'', 'every scheduled run passes');
is( sql($primary,
		q{SELECT string_agg(DISTINCT n::text, ',') FROM
		    (SELECT run_id, count(*) AS n FROM creditledger.bcp_results GROUP BY run_id) r}),
	$enabled,
	'each scheduled run has one result per enabled rule');
is( metric($primary, 'creditledger_bcp_rule_failing{rule="balance_floor"'),
	'creditledger_bcp_rule_failing{rule="balance_floor",severity="critical",status="pass"} 0',
	'metrics(): balance_floor passes');

$primary->wait_for_catchup($standby);
is( sql($standby, 'SELECT count(*) > 0 FROM creditledger.bcp_results'),
	't', 'the recorded runs replicate to the standby');

###########################################################################
# (c) an invariant broken behind the guard, then fixed
###########################################################################

my $offset = -s $primary->logfile;
my $failures_before = metric($primary, 'creditledger_bcp_failures_total{severity="critical"}');
is($failures_before, 'creditledger_bcp_failures_total{severity="critical"} 0',
	'no critical failures counted yet');
sql($primary, q{
SET session_replication_role = replica;
UPDATE creditledger.ledger_accounts SET min_balance = balance + 1000 WHERE code = 'alice';
});
my $failing = 'creditledger_bcp_rule_failing{rule="balance_floor",severity="critical",status="fail"} 1';
ok( $primary->poll_query_until(
		'postgres', qq{SELECT strpos(creditledger.metrics(), '$failing') > 0}),
	'metrics(): balance_floor failing after the next scheduled run');
is( metric($primary, 'creditledger_bcp_rule_mismatches{rule="balance_floor"'),
	'creditledger_bcp_rule_mismatches{rule="balance_floor",severity="critical"} 1',
	'metrics(): one mismatch');
my @failing = grep { !/ 0$/ } split /\n/, metric($primary, 'creditledger_bcp_rule_failing');
is_deeply(\@failing, [$failing], 'balance_floor is the only failing rule');
like(metric($primary, 'creditledger_bcp_failures_total{severity="critical"}'),
	qr/^creditledger_bcp_failures_total\{severity="critical"\} [1-9]\d*$/,
	'creditledger_bcp_failures_total{severity="critical"} counts it');
ok( $primary->wait_for_log(
		qr/WARNING:  creditledger BCP rule "balance_floor" \(critical\) fail: 1 mismatches/,
		$offset),
	'the scheduled run logs the failing rule at WARNING');
my $primary_log = slurp_file($primary->logfile, $offset);
unlike($primary_log, qr/BCP rule "(?!balance_floor")/,
	'no other rule is logged as failing');

$primary->wait_for_catchup($standby);
ok( sql($standby, qq{SELECT strpos(creditledger.metrics(), '$failing') > 0}) eq 't',
	'the standby sees the failing run in its metrics() too');
is( sql($standby,
		q{SELECT rule || ' ' || status || ' ' || mismatches
		    FROM creditledger.bcp_run(record => false) WHERE status <> 'pass'}),
	'balance_floor fail 1',
	'bcp_run(record => false) on the standby finds the same mismatch');

sql($primary, q{
SET session_replication_role = replica;
UPDATE creditledger.ledger_accounts SET min_balance = 0 WHERE code = 'alice';
});
my $passing = 'creditledger_bcp_rule_failing{rule="balance_floor",severity="critical",status="pass"} 0';
ok( $primary->poll_query_until(
		'postgres', qq{SELECT strpos(creditledger.metrics(), '$passing') > 0}),
	'fixed: metrics() shows balance_floor passing again after the next run');
is( sql($primary,
		q{SELECT status FROM creditledger.bcp_results
		   WHERE rule = 'balance_floor' ORDER BY run_id DESC LIMIT 1}),
	'pass', 'the latest recorded balance_floor result passes');
is( sql($primary, q{SELECT errors || ' ' || coalesce(last_error, '')
		   FROM creditledger.stat_workers WHERE database = 'postgres'}),
	'0 ', 'the primary worker counted no errors');

$primary->safe_psql('postgres',
	q{ALTER SYSTEM RESET creditledger.bcp_interval; SELECT pg_reload_conf()});

###########################################################################
# (d) the standby promoted: its worker starts
###########################################################################

$primary->wait_for_catchup($standby);
$standby->promote;
is(sql($standby, 'SELECT pg_is_in_recovery()'), 'f', 'the standby is promoted');
ok( $standby->poll_query_until(
		'postgres', q{SELECT state NOT IN ('waiting for extension', 'starting')
		   FROM creditledger.stat_workers WHERE database = 'postgres'
		     AND pid IN (SELECT pid FROM pg_stat_activity
		                  WHERE backend_type = 'creditledger worker')}),
	'after promotion the worker starts and finds the extension');
is( sql($standby,
		q{SELECT count(*) FROM creditledger.bcp_run(record => true) WHERE status <> 'pass'}),
	'0', 'bcp_run(record => true) works on the promoted standby, every rule passes');
is( sql($standby, q{SELECT errors FROM creditledger.stat_workers WHERE database = 'postgres'}),
	'0', 'the promoted worker counted no errors');

$standby->stop;
$primary->stop;

done_testing();
