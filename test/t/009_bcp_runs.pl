# Scheduled BCP runs as an operator sees them: who runs the rules, what a
# slow rule does to the worker, and whether a correct ledger under load
# ever fails a rule.
#
#  (a) no creditledger_bcp_runner role: with creditledger.bcp_interval set,
#      the log says scheduled runs are off and why, and no run is recorded
#      (user rule SQL never runs as a superuser);
#  (b) after setup_roles(): runs are recorded by a short-lived worker of
#      their own; a user rule reading a server file (stored behind
#      bcp_add_rule's back, as an old release allowed) is executed as the
#      runner and gets 42501: the file reaches neither bcp_results nor the
#      log;
#  (c) a rule that sleeps past creditledger.bcp_rule_timeout gets status
#      error with 57014, and while it sleeps, buffered postings keep
#      flushing: stat_hot_accounts shows the buffer drained within seconds
#      while the run is still in progress;
#  (d) under load (16 pgbench sessions, at most 400 calls/s in all: the
#      scheduled runs scan a ledger that grows with the load, so an
#      unbounded load measures the engine's speed, not the runs; posting uniform transfers, buffered
#      increases, split decreases and credit freeze/unfreeze under a hot
#      group line for 30 s) with a run every second: every recorded rule
#      result passes (0 false failures); then one invariant is broken
#      behind the guard and the next run fails exactly that rule.
#  (e) the runs are not application traffic: stat_operations shows no
#      balance() calls from them.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('bcp_runs');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
creditledger.bcp_interval = '1s'
creditledger.flush_interval = '10ms'
max_connections = 40
});
$node->start;
my $bindir = $node->config_data('--bindir');

# sql SQL: the result of SQL in "postgres", without bcp_run's NOTICEs.
sub sql
{
	my ($q) = @_;
	return $node->safe_psql('postgres', "SET client_min_messages = warning;\n$q");
}

sql(q{
CREATE EXTENSION creditledger;
SELECT creditledger.open_account('u' || i, 'CNY', 'credit', NULL) FROM generate_series(1, 100) i;
SELECT creditledger.open_account('fees', 'CNY', hot_mode => 'buffered');
SELECT creditledger.open_account('payout', 'CNY', 'credit', 0, 'split', 8);
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.transfer('fund-payout', creditledger.account_id('bank'),
                             creditledger.account_id('payout'), 1000000000000);
SELECT creditledger.create_credit_line('group', 'CNY', 1000000000000);
SELECT creditledger.set_credit_line_hot(creditledger.credit_line_id('group'), 8);
SELECT creditledger.create_credit_line('cust' || i, 'CNY', 100000000, ARRAY[creditledger.credit_line_id('group')])
  FROM generate_series(1, 20) i;
});

###########################################################################
# (a) no runner role: no scheduled run, and the log says why
###########################################################################

ok( $node->wait_for_log(
		qr/scheduled BCP runs are off in database "postgres": role "creditledger_bcp_runner" does not exist/),
	'without the runner role the log says scheduled runs are off, and why');
sleep 2;
is(sql('SELECT count(*) FROM creditledger.bcp_results'), '0', 'no run was recorded');

###########################################################################
# (b) runs as creditledger_bcp_runner
###########################################################################

sql(q{
SELECT creditledger.setup_roles();
SELECT creditledger.bcp_add_rule('reads_a_file', 'SELECT 1 AS x WHERE false');
UPDATE creditledger.bcp_rules SET check_sql = $$SELECT pg_read_file('postgresql.conf') AS f$$
 WHERE name = 'reads_a_file';
});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM creditledger.bcp_results WHERE rule = 'reads_a_file'})
  or die 'no scheduled run';
is( sql(q{SELECT status || ' ' || (sample->>'sqlstate') FROM creditledger.bcp_results
           WHERE rule = 'reads_a_file' ORDER BY run_id DESC LIMIT 1}),
	'error 42501', 'a user rule reading a server file runs as the runner: permission denied');
is( sql(q{SELECT count(*) FROM creditledger.bcp_results
           WHERE sample::text LIKE '%shared_preload_libraries%'}),
	'0', 'the file reached no recorded sample');
is( sql(q{SELECT count(*) FROM creditledger.bcp_results
           WHERE rule <> 'reads_a_file' AND status <> 'pass'}),
	'0', 'every built-in rule passes in the scheduled runs');
my $log = slurp_file($node->logfile);
like($log, qr/creditledger BCP rule "reads_a_file" \(critical\) error/,
	'the erroring rule is logged at WARNING');
unlike($log, qr/creditledger\.database = 'postgres'/, 'but the file\'s content is not');
sql(q{SELECT creditledger.bcp_drop_rule('reads_a_file')});

###########################################################################
# (c) a rule past its timeout; flushing goes on meanwhile
###########################################################################

$node->append_conf('postgresql.conf', "creditledger.bcp_rule_timeout = '4s'\n");
$node->reload;
sql(q{SELECT creditledger.bcp_add_rule('sleeper',
        $$SELECT s FROM pg_sleep(8) AS s WHERE s::text = 'never'$$)});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_activity
	   WHERE backend_type = 'creditledger BCP run' AND wait_event = 'PgSleep'})
  or die 'the sleeping rule never ran';
my $fees = sql(q{SELECT creditledger.account_id('fees')});
sql(qq{SELECT creditledger.transfer('slow-' || i, creditledger.account_id('u1'), $fees, 1)
         FROM generate_series(1, 50) i});
my $drained = $node->poll_query_until('postgres',
	qq{SELECT buffered_count = 0 FROM creditledger.stat_hot_accounts WHERE account_id = $fees});
ok($drained, 'buffered postings flush while a rule sleeps');
is( sql(q{SELECT count(*) > 0 FROM pg_stat_activity
           WHERE backend_type = 'creditledger BCP run' AND wait_event = 'PgSleep'}),
	't', '... and the run was still in progress then');
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM creditledger.bcp_results WHERE rule = 'sleeper'})
  or die 'the sleeping rule never finished';
is( sql(q{SELECT status || ' ' || (sample->>'sqlstate') || ' ' || (sample->>'error')
           FROM creditledger.bcp_results WHERE rule = 'sleeper' ORDER BY run_id LIMIT 1}),
	'error 57014 rule exceeded creditledger.bcp_rule_timeout (4000 ms)',
	'a rule past creditledger.bcp_rule_timeout has status error (57014)');
sql(q{SELECT creditledger.bcp_drop_rule('sleeper')});
$node->append_conf('postgresql.conf', "creditledger.bcp_rule_timeout = '60s'\n");
$node->reload;

###########################################################################
# (d) a correct ledger under load never fails a rule
###########################################################################

# wait for the sleeper's run to be over before counting
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'creditledger BCP run'})
  or die 'the slow run does not end';
my $first_run = sql('SELECT coalesce(max(run_id), 0) FROM creditledger.bcp_results');
sql('SELECT creditledger.stat_reset()');

my $payout = sql(q{SELECT creditledger.account_id('payout')});
my $bank = sql(q{SELECT creditledger.account_id('bank')});
my $line1 = sql(q{SELECT creditledger.credit_line_id('cust1')});
my $script = $node->basedir . '/load.sql';
append_to_file(
	$script, q{\set kind random(1, 4)
\set a random(1, 100)
\set b (:a % 100) + 1
\set amt random(1, 1000)
\set line random(0, 19)
SELECT CASE :kind
  WHEN 1 THEN creditledger.transfer(gen_random_uuid()::text, :a, :b, :amt)
  WHEN 2 THEN creditledger.transfer(gen_random_uuid()::text, :a, :fees, :amt)
  WHEN 3 THEN creditledger.transfer(gen_random_uuid()::text, :payout, :bank, :amt)
  ELSE 0 END;
DO $$ DECLARE r text := gen_random_uuid()::text; BEGIN
  IF :kind = 4 THEN
    PERFORM creditledger.credit_freeze(:line1 + :line, 100, r);
    PERFORM creditledger.credit_unfreeze(r, r || '-u');
  END IF; END $$;
});
my ($out, $err) = ('', '');
my @pgbench = (
	"$bindir/pgbench", '-n', '-c', '16', '-j', '2', '-T', '30', '--max-tries=10', '-R', '400',
	'-h', $node->host, '-p', $node->port,
	'-D', "fees=$fees", '-D', "payout=$payout", '-D', "bank=$bank", '-D', "line1=$line1",
	'-f', $script, 'postgres');
my $ok = IPC::Run::run(\@pgbench, '>', \$out, '2>', \$err, IPC::Run::timeout(180));
ok($ok, 'the load ran, no client aborted') or diag "$out\n$err";
$out =~ /number of transactions actually processed: (\d+)/;
note "load: $1 calls in 30 s";

my ($runs, $results, $failing) = split /\|/, sql(
	qq{SELECT count(DISTINCT run_id), count(*), count(*) FILTER (WHERE status <> 'pass')
	     FROM creditledger.bcp_results WHERE run_id > $first_run});
cmp_ok($runs, '>=', 15, "scheduled runs under load: $runs");
is($failing, '0', "no rule failed on a correct ledger under load ($results rule results)");
note sql(qq{SELECT string_agg(rule || ':' || status || ':' || coalesce(sample::text, ''), E'\\n')
              FROM creditledger.bcp_results WHERE run_id > $first_run AND status <> 'pass'});

###########################################################################
# (e) runs are not application traffic
###########################################################################

is( sql(q{SELECT coalesce(sum(calls), 0) FROM creditledger.stat_operations
           WHERE operation IN ('balance', 'account_state', 'verify_chain', 'credit_line_state')}),
	'0', 'the runs\' balance() and verify_chain() calls are not counted as application calls');

###########################################################################
# (d, end) one invariant broken: the next run fails exactly that rule
###########################################################################

sql(q{UPDATE creditledger.ledger_accounts SET min_balance = 2000000000000
       WHERE code = 'payout'});
# the first run that started after the change (a run already going reads
# the snapshot it started with)
my $broken_at = sql('SELECT clock_timestamp()');
$node->poll_query_until('postgres',
	qq{SELECT count(*) > 0 FROM creditledger.bcp_results WHERE ran_at > '$broken_at'})
  or die 'no run after the break';
is( sql(qq{SELECT string_agg(rule, ',' ORDER BY rule) FROM creditledger.bcp_results
            WHERE run_id = (SELECT min(run_id) FROM creditledger.bcp_results
                             WHERE ran_at > '$broken_at')
              AND status <> 'pass'}),
	'balance_floor', 'the next run fails exactly the broken rule');

is(sql('SELECT sum(errors) FROM creditledger.stat_workers'), '0', 'the worker counted no errors');
$node->stop;
done_testing();
