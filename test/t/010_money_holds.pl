# Money holds with the background worker: expiry, and crash safety.
#
# One node with the library preloaded, its worker serving database
# "postgres", releasing due holds every 200 ms (creditledger.
# hold_expiry_interval), restart_after_crash on.
#
#  (a) the worker expires due pending transfers and funds holds by itself:
#      statuses become 'expired', held falls back to 0, the hold chain has
#      the 'expire' entries, stat_workers.holds_expired counts them and
#      stat_operations does not count expire_pending() as application calls;
#  (b) concurrent load (pgbench: authorisations from a plain and from a split
#      account to a buffered merchant, full and partial captures, voids,
#      short funds holds that the worker expires), kill -9 of the worker in
#      the middle (the postmaster crash-restarts every session), more load,
#      then: every acknowledged pending transfer, post and void exists
#      exactly once and nothing unacknowledged does, held equals the open
#      reservations on every chain, chains verify and every built-in BCP
#      rule passes.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('holds');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
creditledger.flush_interval = 10
creditledger.hold_expiry_interval = 200
restart_after_crash = on
});
$node->start;
my $bindir = $node->config_data('--bindir');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub worker_pid
{
	return sql(q{SELECT pid FROM pg_stat_activity
		   WHERE backend_type = 'creditledger worker' AND datname = 'postgres'});
}

sql('CREATE EXTENSION creditledger');
$node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM creditledger.stat_workers')
  or die 'no worker';

###########################################################################
# (a) the worker expires due pending transfers and funds holds
###########################################################################

sql(q{
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('alice', 'CNY');
SELECT creditledger.open_account('shop', 'CNY');
SELECT creditledger.transfer('fund', 1, 2, 1000);
SELECT creditledger.stat_reset();
SELECT creditledger.transfer_pending('auth-1', 2, 3, 300, now() + interval '1 second');
SELECT creditledger.hold_funds('freeze-1', 2, 200, 'court', now() + interval '1 second');
SELECT creditledger.transfer_pending('auth-2', 2, 3, 100);
});
is(sql('SELECT held FROM creditledger.accounts WHERE account_id = 2'), '600',
	'three reservations are held');
ok( $node->poll_query_until(
		'postgres', q{SELECT held = 100 FROM creditledger.accounts WHERE account_id = 2}),
	'the worker released the due pending transfer and funds hold');
is( sql(q{SELECT (SELECT status FROM creditledger.pending_transfers WHERE voucher = 'auth-1') || ' '
          || (SELECT status FROM creditledger.funds_holds WHERE ref = 'freeze-1') || ' '
          || (SELECT status FROM creditledger.pending_transfers WHERE voucher = 'auth-2')}),
	'expired expired pending', 'due ones expired, the one without expires_at stays pending');
is( sql(q{SELECT string_agg(op || ':' || target || ':' || held_delta, ' ' ORDER BY version)
            FROM creditledger.hold_journal WHERE account_id = 2 AND op = 'expire'}),
	'expire:P:-300 expire:F:-200', 'the expiries are hold chain entries');
cmp_ok(sql('SELECT holds_expired FROM creditledger.stat_workers'), '>=', 2,
	'stat_workers.holds_expired counts them');
is(sql(q{SELECT coalesce(sum(calls), 0) FROM creditledger.stat_operations_raw()
          WHERE operation = 'expire_pending'}),
	'0', 'the worker\'s expire_pending() runs are not application calls');
is(sql(q{SELECT status FROM creditledger.bcp_run(ARRAY['pending_not_overdue'], false)}),
	'pass', 'nothing left overdue');

###########################################################################
# (b) concurrent load, kill -9 in the middle
###########################################################################

sql(q{
SELECT creditledger.open_account('load:payer', 'CNY');
SELECT creditledger.open_account('load:split', 'CNY', hot_mode => 'split', shards => 4);
SELECT creditledger.open_account('load:shop', 'CNY', hot_mode => 'buffered');
SELECT creditledger.transfer('load:f1', 1, creditledger.account_id('load:payer'), 1000000);
SELECT creditledger.transfer('load:f2', 1, creditledger.account_id('load:split'), 1000000);

-- What the clients were told, written in the operation's own transaction.
CREATE TABLE public.ack (seq bigserial PRIMARY KEY, voucher text UNIQUE NOT NULL,
                         kind text NOT NULL, pending text, id bigint NOT NULL);
CREATE SEQUENCE public.vseq;

-- op 1-2: authorise (from the plain or the split payer); 3: capture all;
-- 4: capture 1, not final; 5: void; 6: a funds hold the worker expires.
-- A capture or void of a pending transfer that is no longer pending (or
-- the split payer short) is refused without an ack.
CREATE FUNCTION public.hold_op(op int, payer bigint, split bigint, shop bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v text := 'h-' || nextval('public.vseq');
    p text;
    r bigint;
BEGIN
    IF op <= 2 THEN
        r := creditledger.transfer_pending(v, CASE op WHEN 1 THEN payer ELSE split END, shop,
                                           1 + (random() * 9)::int);
        INSERT INTO public.ack (voucher, kind, id) VALUES (v, 'pending', r);
    ELSIF op = 6 THEN
        r := creditledger.hold_funds(v, payer, 5, 'load', now() + interval '300 milliseconds');
        INSERT INTO public.ack (voucher, kind, id) VALUES (v, 'hold', r);
    ELSE
        SELECT a.voucher INTO p FROM public.ack a WHERE a.kind = 'pending'
         ORDER BY a.seq DESC LIMIT 1 OFFSET (random() * 10)::int;
        IF p IS NULL THEN
            RETURN NULL;
        END IF;
        BEGIN
            IF op = 3 THEN
                r := creditledger.transfer_post(v, p);
            ELSIF op = 4 THEN
                r := creditledger.transfer_post(v, p, 1, false);
            ELSE
                r := creditledger.transfer_void(v, p);
            END IF;
        EXCEPTION WHEN SQLSTATE 'LD013' OR SQLSTATE 'LD001' THEN
            RETURN NULL;
        END;
        INSERT INTO public.ack (voucher, kind, pending, id)
        VALUES (v, CASE WHEN op = 5 THEN 'void' ELSE 'post' END, p, r);
    END IF;
    RETURN r;
END $$;
});
my %ids = map { $_ => sql("SELECT creditledger.account_id('load:$_')") } qw(payer split shop);

my $script = $node->basedir . '/holds.sql';
append_to_file($script, q{\set op random(1, 6)
SELECT public.hold_op(:op, :payer, :split, :shop);
});
my @pgbench = (
	"$bindir/pgbench", '-n', '-c', '6', '-j', '2',
	'-h', $node->host, '-p', $node->port,
	'-D', "payer=$ids{payer}", '-D', "split=$ids{split}", '-D', "shop=$ids{shop}",
	'-f', $script);

my ($out1, $err1) = ('', '');
my $load = IPC::Run::start([ @pgbench, '-T', '8', 'postgres' ],
	'>', \$out1, '2>', \$err1, IPC::Run::timeout(120));
$node->poll_query_until('postgres', 'SELECT count(*) >= 1500 FROM public.ack')
  or die 'the load does not progress';
my $pid = worker_pid();
kill 'KILL', $pid;
$load->finish;
note "pgbench during the crash: $out1 $err1";
$node->poll_query_until(
	'postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	   WHERE backend_type = 'creditledger worker' AND pid <> $pid})
  or die 'no worker after the crash';
my $acked1 = sql('SELECT count(*) FROM public.ack');
cmp_ok($acked1, '>', 0, "operations acknowledged before the crash: $acked1");

$node->command_ok([ @pgbench, '-T', '3', 'postgres' ],
	'load after the crash restart runs without errors');
# let the worker expire the short funds holds and flush the shop
ok( $node->poll_query_until(
		'postgres', q{SELECT NOT EXISTS (SELECT 1 FROM creditledger.funds_holds
		                                 WHERE status = 'open' AND expires_at < now())
		              AND NOT EXISTS (SELECT 1 FROM creditledger.posting_buffer)}),
	'the worker expired every due funds hold and drained the buffer');

my %n = map { $_ => sql("SELECT count(*) FROM public.ack WHERE kind = '$_'") }
  qw(pending post void hold);
cmp_ok($n{$_}, '>', 0, "acknowledged ${_}s: $n{$_}") for qw(pending post void hold);

is( sql(q{SELECT count(*) FROM creditledger.pending_transfers p
           JOIN public.ack a ON a.voucher = p.voucher AND a.id = p.pending_id AND a.kind = 'pending'}),
	$n{pending}, 'every acknowledged pending transfer exists, with its id');
is(sql(q{SELECT count(*) FROM creditledger.pending_transfers WHERE voucher LIKE 'h-%'}),
	$n{pending}, 'no pending transfer exists that was not acknowledged');
is( sql(q{SELECT count(*) FROM creditledger.transfers t
           JOIN public.ack a ON a.voucher = t.voucher AND a.id = t.transfer_id AND a.kind = 'post'}),
	$n{post}, 'every acknowledged post is a transfer, with its id');
is(sql(q{SELECT count(*) FROM creditledger.transfers WHERE voucher LIKE 'h-%'}),
	$n{post}, 'no post exists that was not acknowledged');
is( sql(q{SELECT count(*) FROM creditledger.journal j
           JOIN public.ack a ON a.id = j.transfer_id AND a.kind = 'post'}),
	2 * $n{post}, 'each post has exactly its two journal entries');
is( sql(q{SELECT count(*) FROM creditledger.hold_operations o
           JOIN public.ack a ON a.voucher = o.ref AND a.kind = 'void' AND o.kind = 'void'}),
	$n{void}, 'every acknowledged void exists');
is(sql(q{SELECT count(*) FROM creditledger.hold_operations WHERE kind = 'void'}),
	$n{void}, 'no void exists that was not acknowledged');
is( sql(q{SELECT count(*) FROM creditledger.pending_transfers p
           WHERE p.status = 'voided'
             AND NOT EXISTS (SELECT 1 FROM public.ack a WHERE a.kind = 'void' AND a.pending = p.voucher)}),
	'0', 'every voided pending transfer has its acknowledged void');
is(sql(q{SELECT count(*) FROM creditledger.funds_holds WHERE ref LIKE 'h-%'}),
	$n{hold}, 'every acknowledged funds hold exists, and no other');

# held = the open reservations, per account and in total
is( sql(q{
SELECT count(*) FROM creditledger.accounts a
 WHERE a.held <> coalesce((SELECT sum(p.remaining) FROM creditledger.pending_transfers p
                            WHERE p.debit_account = a.account_id AND a.normal_side = 'credit'), 0)
               + coalesce((SELECT sum(h.remaining) FROM creditledger.funds_holds h
                            WHERE h.account_id = a.account_id), 0)}),
	'0', 'every account\'s held equals its open reservations');
cmp_ok(sql(q{SELECT held FROM creditledger.accounts WHERE code = 'load:split'}), '>', 0,
	'the split payer still holds open authorisations (the check is not vacuous)');
is(sql('SELECT count(*) FROM creditledger.verify_chain()'), '0',
	'every chain verifies (money and hold chains)');
is( sql(q{SELECT coalesce(string_agg(rule || ' ' || status, ', '), '')
            FROM creditledger.bcp_run(record => false) WHERE status <> 'pass'}),
	'', 'every built-in BCP rule passes');

$node->stop;
done_testing();
