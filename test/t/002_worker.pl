# Background worker: start, drain, restart, crash safety.
#
# One node with the library preloaded, its worker serving database
# "postgres" (creditledger.database), flushing every 10 ms and sweeping
# split accounts every second, restart_after_crash on.
#
#  (a) the worker runs (pg_stat_activity backend_type, stat_workers) and,
#      before CREATE EXTENSION in its database, waits quietly: one LOG line,
#      state 'waiting for extension'; after it, it starts working;
#  (b) paused (flush_interval = 0, SIGHUP) the worker leaves buffered
#      postings alone; resumed, it drains them without flush() being called;
#  (c) one bad buffer row (a trigger refusing its deletion) is logged,
#      counted and backed off; other accounts keep draining; the worker does
#      not restart; once the row is fixed it drains too;
#  (d) pg_terminate_backend: a new worker comes back (exit code 1, restart
#      after bgw_restart_time) and drains;
#  (e) kill -9 of the worker: the postmaster crash-restarts, the worker
#      comes back, committed data is intact and it drains again;
#  (f) concurrent load (pgbench: transfers out of a split account into a
#      buffered one, and back out of the buffered one), kill -9 of the worker
#      in the middle, more load after the restart, drain; then every
#      acknowledged voucher is in transfers exactly once with its two journal
#      entries, chains verify, and every account and sub-account balance
#      equals what its journal adds up to, balance() = posted + buffered;
#      the worker's sweeps of the split account ran along.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
creditledger.flush_interval = 10
creditledger.sweep_interval = 1000
restart_after_crash = on
});
$node->start;

my $bindir = $node->config_data('--bindir');

# worker_pid: pid of the running creditledger worker of "postgres", or ''.
sub worker_pid
{
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity
		   WHERE backend_type = 'creditledger worker' AND datname = 'postgres'});
}

# wait_for_new_worker: wait until a worker other than $old runs; its pid.
sub wait_for_new_worker
{
	my ($old) = @_;
	$node->poll_query_until(
		'postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
		   WHERE backend_type = 'creditledger worker' AND datname = 'postgres'
		     AND pid <> $old})
	  or die "no new creditledger worker after pid $old";
	return worker_pid();
}

# wait_drained: wait until no account of "postgres" has buffered postings.
sub wait_drained
{
	my ($what) = @_;
	ok( $node->poll_query_until(
			'postgres',
			'SELECT coalesce(sum(buffered_count), 0) = 0 FROM creditledger.accounts'),
		"the worker drains every buffer: $what");
}

###########################################################################
# (a) the worker runs, and waits quietly for the extension
###########################################################################

ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
		   WHERE backend_type = 'creditledger worker' AND datname = 'postgres'}),
	'the worker shows in pg_stat_activity with its bgw_type');
my $pid = worker_pid();

# The statistics view is cluster-wide: read it from another database.
$node->safe_psql('postgres', 'CREATE DATABASE monitor');
$node->safe_psql('monitor', 'CREATE EXTENSION creditledger');
ok( $node->poll_query_until(
		'monitor', q{SELECT state = 'waiting for extension' AND cycles >= 2
		   FROM creditledger.stat_workers WHERE database = 'postgres'}),
	'without the extension the worker waits (and keeps cycling)');
is( $node->safe_psql(
		'monitor', q{SELECT worker || ' ' || pid || ' ' || errors
		   FROM creditledger.stat_workers}),
	"creditledger worker for database postgres $pid 0",
	'stat_workers: one row, the running worker, no errors');
my $log = slurp_file($node->logfile);
my @waiting = ($log =~ /creditledger worker is waiting for the extension/g);
is(scalar(@waiting), 1, 'waiting for the extension is logged once, not per retry');

$node->safe_psql('postgres', 'CREATE EXTENSION creditledger');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT state NOT IN ('waiting for extension', 'starting')
		   FROM creditledger.stat_workers}),
	'after CREATE EXTENSION the worker starts working');
is(worker_pid(), $pid, 'the same worker process found the extension');

###########################################################################
# (b) paused, then draining without flush()
###########################################################################

$node->safe_psql(
	'postgres', q{
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('wallet', 'CNY', hot_mode => 'buffered');
});

$node->safe_psql('postgres',
	'ALTER SYSTEM SET creditledger.flush_interval = 0; SELECT pg_reload_conf()');
ok( $node->poll_query_until(
		'postgres', q{SELECT state = 'paused' FROM creditledger.stat_workers}),
	'flush_interval = 0 (SIGHUP) pauses the worker');

$node->safe_psql(
	'postgres', q{
SELECT creditledger.transfer('b-' || g, creditledger.account_id('bank'),
                             creditledger.account_id('wallet'), g)
  FROM generate_series(1, 20) g;
});
my $cycles = $node->safe_psql('postgres', 'SELECT cycles FROM creditledger.stat_workers');
$node->poll_query_until('postgres',
	"SELECT cycles >= $cycles + 2 FROM creditledger.stat_workers");
is( $node->safe_psql(
		'postgres', q{SELECT buffered_count || ' ' || buffered_amount || ' ' || balance
		   FROM creditledger.accounts WHERE code = 'wallet'}),
	'20 210 210',
	'paused: the postings stay buffered (and count in the balance)');

$node->safe_psql('postgres',
	'ALTER SYSTEM RESET creditledger.flush_interval; SELECT pg_reload_conf()');
wait_drained('resumed after the pause');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) || ' ' || sum(amount) FROM creditledger.journal
		   WHERE account_id = creditledger.account_id('wallet')}),
	'20 210',
	'every buffered posting became one journal entry');
is( $node->safe_psql(
		'postgres', q{SELECT posted_balance || ' ' || balance
		   FROM creditledger.accounts WHERE code = 'wallet'}),
	'210 210', 'the posted balance caught up');
ok( $node->safe_psql('postgres',
		'SELECT postings_flushed >= 20 AND last_cycle_at IS NOT NULL FROM creditledger.stat_workers'),
	'stat_workers counts the postings it flushed');

###########################################################################
# (c) one bad row: logged, counted, backed off; no crash loop
###########################################################################

$node->safe_psql(
	'postgres', q{
SELECT creditledger.open_account('poisoned', 'CNY', hot_mode => 'buffered');
CREATE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.voucher LIKE 'poison%' THEN
        RAISE EXCEPTION 'buffer row % is poisoned', OLD.voucher;
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER refuse_poison BEFORE DELETE ON creditledger.posting_buffer
    FOR EACH ROW EXECUTE FUNCTION public.refuse_poison();
SELECT creditledger.transfer('poison-1', creditledger.account_id('bank'),
                             creditledger.account_id('poisoned'), 5);
});
ok( $node->poll_query_until(
		'postgres', q{SELECT errors >= 2 FROM creditledger.stat_workers}),
	'a failing flush is counted (and retried)');
like(
	$node->safe_psql('postgres', 'SELECT last_error FROM creditledger.stat_workers'),
	qr/^flushing account \d+: buffer row poison-1 is poisoned$/,
	'last_error names the account and the error');
$node->safe_psql('postgres',
	q{SELECT creditledger.transfer('after-poison', creditledger.account_id('bank'),
	                               creditledger.account_id('wallet'), 1)});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT buffered_count = 0 FROM creditledger.accounts WHERE code = 'wallet'}),
	'other accounts keep draining');
is(worker_pid(), $pid, 'the worker did not restart');
$log = slurp_file($node->logfile);
like(
	$log,
	qr/ERROR:  buffer row poison-1 is poisoned\n.*CONTEXT:.*creditledger worker flushing account \d+/s,
	'the error is logged with the account in its context');
my $errors = $node->safe_psql('postgres', 'SELECT errors FROM creditledger.stat_workers');
sleep(2);
cmp_ok($node->safe_psql('postgres', 'SELECT errors FROM creditledger.stat_workers'),
	'<=', $errors + 2, 'the failing account is backed off, not retried every cycle');

$node->safe_psql('postgres',
	'DROP TRIGGER refuse_poison ON creditledger.posting_buffer');
wait_drained('after the bad row was fixed');

###########################################################################
# (d) pg_terminate_backend: the worker comes back
###########################################################################

$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $new_pid = wait_for_new_worker($pid);
isnt($new_pid, $pid, 'a new worker starts after pg_terminate_backend');
$log = slurp_file($node->logfile);
like($log, qr/background worker "creditledger worker" \(PID $pid\) exited with exit code 1/,
	'the terminated worker exited with code 1 (so it is restarted)');
$node->safe_psql('postgres',
	q{SELECT creditledger.transfer('d-' || g, creditledger.account_id('bank'),
	                               creditledger.account_id('wallet'), 1)
	    FROM generate_series(1, 10) g});
wait_drained('after pg_terminate_backend');
is($node->safe_psql('postgres', 'SELECT pid FROM creditledger.stat_workers'),
	$new_pid, 'stat_workers shows the new pid');
$pid = $new_pid;

###########################################################################
# (e) kill -9: crash restart, data intact
###########################################################################

my $snapshot_sql = q{
SELECT md5(string_agg(format('%s/%s/%s/%s/%s/%s', entry_id, account_id, sub_account,
                             version, balance_after, encode(hash, 'hex')), ',' ORDER BY entry_id))
       || ' ' || (SELECT md5(string_agg(format('%s/%s/%s', account_id, balance, buffered_count),
                                        ',' ORDER BY account_id))
                    FROM creditledger.accounts)
  FROM creditledger.journal};
my $before = $node->safe_psql('postgres', $snapshot_sql);

kill 'KILL', $pid;
$new_pid = wait_for_new_worker($pid);
isnt($new_pid, $pid, 'a new worker starts after kill -9');
$log = slurp_file($node->logfile);
like($log, qr/all server processes terminated; reinitializing/,
	'kill -9 of the worker made the postmaster crash-restart');
is($node->safe_psql('postgres', $snapshot_sql), $before,
	'journal and balances are intact after the crash restart');
$node->safe_psql('postgres',
	q{SELECT creditledger.transfer('e-' || g, creditledger.account_id('bank'),
	                               creditledger.account_id('wallet'), 1)
	    FROM generate_series(1, 10) g});
wait_drained('after the crash restart');
$pid = $new_pid;

###########################################################################
# (f) concurrent load, kill -9 of the worker in the middle
###########################################################################

$node->safe_psql(
	'postgres', q{
SELECT creditledger.open_account('load:bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('load:split', 'CNY', hot_mode => 'split', shards => 8);
SELECT creditledger.open_account('load:wallet', 'CNY', hot_mode => 'buffered');
-- One funding transfer: all of it lands in one sub-account, so the
-- worker's sweeps (every second) have something to even out under the load.
SELECT creditledger.transfer('load:fund', creditledger.account_id('load:bank'),
                             creditledger.account_id('load:split'), 16000000);

-- What the clients were told: a row per committed posting, written in the
-- posting's own transaction.
CREATE TABLE public.load_ack (voucher text PRIMARY KEY, kind int NOT NULL,
                              amount bigint NOT NULL, transfer_id bigint NOT NULL);
CREATE SEQUENCE public.load_seq;

-- kind 1-3: split -> buffered wallet (a split decrease and a buffered
-- increase); kind 4: buffered wallet -> bank (an immediate decrease that may
-- have to flush the wallet's buffer itself, racing the worker; refused
-- without an ack when the wallet is short).
CREATE FUNCTION public.load_post(kind int, bank bigint, split bigint, wallet bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v text := 'load-' || nextval('public.load_seq');
    amt bigint := 1 + (random() * 9)::int;
    t bigint;
BEGIN
    IF kind < 4 THEN
        t := creditledger.transfer(v, split, wallet, amt);
    ELSE
        BEGIN
            t := creditledger.transfer(v, wallet, bank, amt);
        EXCEPTION WHEN SQLSTATE 'LD001' THEN
            RETURN NULL;
        END;
    END IF;
    INSERT INTO public.load_ack VALUES (v, kind, amt, t);
    RETURN t;
END $$;
});
my %ids = map {
	$_ => $node->safe_psql('postgres', "SELECT creditledger.account_id('load:$_')")
} qw(bank split wallet);

my $script = $node->basedir . '/load.sql';
append_to_file($script, q{\set kind random(1, 4)
SELECT public.load_post(:kind, :bank, :split, :wallet);
});
my @pgbench = (
	"$bindir/pgbench", '-n', '-c', '4', '-j', '2',
	'-h', $node->host, '-p', $node->port,
	'-D', "bank=$ids{bank}", '-D', "split=$ids{split}", '-D', "wallet=$ids{wallet}",
	'-f', $script);

# Phase 1: load, and kill -9 the worker while it runs.
my ($out1, $err1) = ('', '');
my $load = IPC::Run::start([ @pgbench, '-T', '6', 'postgres' ],
	'>', \$out1, '2>', \$err1, IPC::Run::timeout(120));
$node->poll_query_until('postgres', 'SELECT count(*) >= 1000 FROM public.load_ack')
  or die 'the load does not progress';
ok( $node->safe_psql('postgres',
		q{SELECT postings_flushed > 0 FROM creditledger.stat_workers}),
	'the worker is flushing under the load');
note 'buffered postings when the worker is killed: '
  . $node->safe_psql('postgres',
	'SELECT coalesce(sum(buffered_count), 0) FROM creditledger.accounts');
kill 'KILL', $pid;
$load->finish;    # the crash restart ends every client session
note "pgbench during the crash: $out1 $err1";
$new_pid = wait_for_new_worker($pid);
isnt($new_pid, $pid, 'the worker is back after kill -9 under load');
my $acked1 = $node->safe_psql('postgres', 'SELECT count(*) FROM public.load_ack');
cmp_ok($acked1, '>', 0, "postings acknowledged before the crash: $acked1");

# Phase 2: load again while the new worker drains what was left.
$node->command_ok([ @pgbench, '-T', '3', 'postgres' ],
	'load after the crash restart runs without errors');
wait_drained('after the load');

my $acked = $node->safe_psql('postgres', 'SELECT count(*) FROM public.load_ack');

# Whether the load left the sub-accounts drifted depends on timing, so make
# them drift for sure: one large increase lands in a single sub-account.
# The sweep (every second) then evens them out with internal transfers.
$node->safe_psql('postgres',
	qq{SELECT creditledger.transfer('drift-1', $ids{bank}, $ids{split}, 100000000)});
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) > 0 FROM creditledger.transfers
		   WHERE voucher LIKE 'creditledger:sweep:%'}),
	'the worker swept the split account (internal sweep transfers)');
cmp_ok($acked, '>', $acked1, "postings acknowledged in total: $acked");

# Every acknowledged voucher is in transfers exactly once, with its id.
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM public.load_ack a
		   WHERE (SELECT count(*) FROM creditledger.transfers t
		           WHERE t.voucher = a.voucher AND t.transfer_id = a.transfer_id) <> 1}),
	'0',
	'every acknowledged voucher is in transfers exactly once');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM creditledger.transfers t
		   WHERE t.voucher LIKE 'load-%'
		     AND NOT EXISTS (SELECT 1 FROM public.load_ack a WHERE a.voucher = t.voucher)}),
	'0',
	'no transfer exists that was not acknowledged');

# ... and has exactly its two journal entries: nothing lost, nothing doubled.
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM public.load_ack a
		   WHERE (SELECT count(*) FROM creditledger.journal j
		           WHERE j.transfer_id = a.transfer_id AND j.voucher = a.voucher
		             AND j.amount = a.amount) <> 2
		      OR NOT EXISTS (SELECT 1 FROM creditledger.journal j
		                      WHERE j.transfer_id = a.transfer_id AND j.side = 'D'
		                        AND j.account_id = CASE WHEN a.kind < 4 THEN }
		  . $ids{split} . q{ ELSE } . $ids{wallet} . q{ END)
		      OR NOT EXISTS (SELECT 1 FROM creditledger.journal j
		                      WHERE j.transfer_id = a.transfer_id AND j.side = 'C'
		                        AND j.account_id = CASE WHEN a.kind < 4 THEN }
		  . $ids{wallet} . q{ ELSE } . $ids{bank} . q{ END)}),
	'0',
	'every acknowledged transfer has exactly one debit and one credit entry');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM creditledger.journal WHERE voucher LIKE 'load-%'}),
	2 * $acked,
	'the load left exactly two journal entries per acknowledged transfer');

is($node->safe_psql('postgres', 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'verify_chain: every chain intact');

# Balances: what the acknowledgements add up to.
is( $node->safe_psql(
		'postgres', q{SELECT balance FROM creditledger.accounts WHERE code = 'load:wallet'}),
	$node->safe_psql(
		'postgres', q{SELECT coalesce(sum(CASE WHEN kind < 4 THEN amount ELSE -amount END), 0)
		   FROM public.load_ack}),
	'the buffered wallet holds exactly what was acknowledged');
is( $node->safe_psql(
		'postgres', q{SELECT balance FROM creditledger.accounts WHERE code = 'load:split'}),
	$node->safe_psql(
		'postgres', q{SELECT 16000000 + 100000000 - coalesce(sum(amount), 0)
		   FROM public.load_ack WHERE kind < 4}),
	'the split account holds exactly what was acknowledged (and the drift-1 deposit)');

# Signed amount of a journal entry for its account's normal side.
my $signed = q{CASE WHEN (j.side = 'C') = (a.normal_side = 'credit')
                    THEN j.amount ELSE -j.amount END};

# Every chain (account, sub-account): versions 1..n, the head's
# balance_after is the sum of its entries.
is( $node->safe_psql(
		'postgres', qq{
WITH c AS (
    SELECT j.account_id, j.sub_account, sum($signed) AS total,
           count(*) AS n, max(j.version) AS head
      FROM creditledger.journal j JOIN creditledger.accounts a USING (account_id)
     GROUP BY 1, 2)
SELECT count(*) FROM c
  JOIN creditledger.journal h ON h.account_id = c.account_id
   AND h.sub_account = c.sub_account AND h.version = c.head
 WHERE h.balance_after <> c.total OR c.n <> c.head}),
	'0',
	'every chain head balance_after = the sum of its journal entries');

# Every account: posted balance = its journal, balance = posted + buffered
# = balance(), nothing left buffered.
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM creditledger.accounts a
 WHERE a.posted_balance <> (SELECT coalesce(sum($signed), 0)
                              FROM creditledger.journal j
                             WHERE j.account_id = a.account_id)
    OR a.balance <> a.posted_balance + a.buffered_amount
    OR creditledger.balance(a.account_id) <> a.balance
    OR a.buffered_count <> 0 OR a.buffered_amount <> 0}),
	'0',
	'every account: posted = sum of its journal, balance() = posted + buffered');

# Every account row and sub-account row (internal tables: the heads the
# posting path reads) agrees with its chain in the journal.
is( $node->safe_psql(
		'postgres', qq{
WITH c AS (
    SELECT j.account_id, j.sub_account, sum($signed) AS total, count(*) AS n
      FROM creditledger.journal j JOIN creditledger.accounts a USING (account_id)
     GROUP BY 1, 2),
heads AS (
    SELECT account_id, 0 AS sub_account, balance, version FROM creditledger.ledger_accounts
    UNION ALL
    SELECT account_id, sub_account, balance, version FROM creditledger.sub_accounts)
SELECT count(*) FROM heads h
  LEFT JOIN c ON c.account_id = h.account_id AND c.sub_account = h.sub_account
 WHERE h.balance <> coalesce(c.total, 0) OR h.version <> coalesce(c.n, 0)}),
	'0',
	'every account and sub-account balance and version match its journal chain');

# The books balance.
is( $node->safe_psql(
		'postgres', q{SELECT sum(CASE WHEN side = 'D' THEN amount ELSE -amount END)
		   FROM creditledger.journal}),
	'0',
	'debits equal credits over the whole journal');

is($node->safe_psql('postgres', 'SELECT errors FROM creditledger.stat_workers'),
	'0', 'the new worker counted no errors (counters restart with the crash)');

###########################################################################
# Without shared_preload_libraries: no worker, and the view says why
###########################################################################

$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;
my ($ret, $stdout, $stderr) = $node->psql(
	'postgres', 'SELECT * FROM creditledger.stat_workers',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($ret, 0, 'stat_workers fails without shared_preload_libraries');
like($stderr, qr/ERROR:  55000: creditledger statistics are not available/,
	'... with SQLSTATE 55000');
like($stderr,
	qr/HINT:  Add creditledger to shared_preload_libraries and restart the server\./,
	'... and a hint saying how to enable it');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pg_stat_activity
		   WHERE backend_type = 'creditledger worker'}),
	'0',
	'no worker runs without shared_preload_libraries');
($ret, $stdout, $stderr) = $node->psql(
	'postgres', q{SHOW creditledger.database;
	SELECT creditledger.balance(creditledger.account_id('load:wallet'))
	       = (SELECT balance FROM creditledger.accounts WHERE code = 'load:wallet')});
is($ret, 0, 'the ledger functions still work without it');
is($stdout, "postgres\nt", '... and creditledger.database still shows its value');
is($stderr, '', '... without warnings');

$node->stop;

done_testing();
