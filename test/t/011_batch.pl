# post_batch under a crash: kill -9 during a batch load.
#
# Four pgbench clients post batches of 20 items (transfers and two-leg
# entries between 40 accounts funded with little, so some items are refused
# for insufficient funds; some into a buffered account, some out of a split
# account; about a third of the items linked with the next; one batch in
# five atomic).  Each client records, in the batch's own transaction, what
# it sent (batch_sent) and each item's result (batch_ack).  In the middle of
# the load, a backend running a batch is killed with SIGKILL: the postmaster
# crash-restarts every session.  Afterwards, and again after more load:
#  - every acknowledged item that succeeded is in transfers with its id,
#    every refused one is not, and no 'tb-' transfer exists that was not
#    acknowledged (the batch killed mid-way left nothing: all or nothing
#    per batch);
#  - every linked group (and every atomic batch) succeeded or failed as a
#    whole; a failed group of a non-atomic batch has exactly one item with
#    its own error, the others LD014;
#  - re-posting acknowledged batches (inside a rolled-back transaction;
#    atomic ones only if they succeeded: a refused one may raise now)
#    returns the same ids;
#  - chains intact, every BCP rule passes once the buffer is drained, and
#    money is conserved.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('batch');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
creditledger.flush_interval = 10
restart_after_crash = on
});
$node->start;
my $bindir = $node->config_data('--bindir');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION creditledger;
SELECT creditledger.open_account('tb:bank', 'CNY', 'debit', NULL);
SELECT count(creditledger.open_account('tb:acct-' || i, 'CNY')) FROM generate_series(1, 40) i;
SELECT count(creditledger.transfer('tb:fund-' || a.account_id, creditledger.account_id('tb:bank'),
                                   a.account_id, 1000))
  FROM creditledger.accounts a WHERE code LIKE 'tb:acct-%';
SELECT creditledger.open_account('tb:buffered', 'CNY', hot_mode => 'buffered');
SELECT creditledger.open_account('tb:split', 'CNY', hot_mode => 'split', shards => 4);
SELECT creditledger.transfer('tb:fund-split', creditledger.account_id('tb:bank'),
                             creditledger.account_id('tb:split'), 1000000);

CREATE TABLE public.batch_sent (batch bigint PRIMARY KEY, atomic boolean NOT NULL, items jsonb NOT NULL);
CREATE TABLE public.batch_ack (batch bigint NOT NULL, item int NOT NULL, voucher text NOT NULL,
                               grp int NOT NULL, id bigint, sqlstate text,
                               PRIMARY KEY (batch, item));
CREATE SEQUENCE public.batch_seq;

-- One batch of 20 items, its results recorded in the same transaction.
CREATE FUNCTION public.batch_post(lo bigint, n int, buf bigint, split bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    b bigint := nextval('public.batch_seq');
    atomic boolean := random() < 0.2;
    items jsonb := '[]';
    meta jsonb := '[]';
    g int := 0;
    v text; a bigint; c bigint; amt bigint; linked boolean; it jsonb;
    st text;
BEGIN
    FOR i IN 1 .. 20 LOOP
        v := 'tb-' || b || '-' || i;
        a := lo + floor(random() * n)::int;
        c := lo + (a - lo + 1 + floor(random() * (n - 1))::int) % n;
        IF random() < 0.15 THEN c := buf; ELSIF random() < 0.15 THEN a := split; END IF;
        amt := 1 + floor(random() * 300)::int;
        linked := i < 20 AND random() < 0.33;
        IF random() < 0.15 THEN
            it := jsonb_build_object('op', 'entry', 'voucher', v, 'legs', jsonb_build_array(
                      jsonb_build_object('account', a, 'debit', amt),
                      jsonb_build_object('account', c, 'credit', amt)));
        ELSE
            it := jsonb_build_object('op', 'transfer', 'voucher', v, 'debit', a, 'credit', c,
                                     'amount', amt);
        END IF;
        IF linked THEN it := it || '{"linked": true}'; END IF;
        items := items || jsonb_build_array(it);
        meta := meta || jsonb_build_array(jsonb_build_object('v', v, 'g', CASE WHEN atomic THEN 0 ELSE g END));
        IF NOT linked THEN g := g + 1; END IF;
    END LOOP;
    INSERT INTO public.batch_sent VALUES (b, atomic, items);
    BEGIN
        INSERT INTO public.batch_ack
        SELECT b, r.item, meta->(r.item - 1)->>'v', (meta->(r.item - 1)->>'g')::int, r.id, r.sqlstate
          FROM creditledger.post_batch(items, atomic) r;
    EXCEPTION WHEN SQLSTATE 'LD001' THEN
        -- atomic: the first refusal raised, nothing posted
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
        INSERT INTO public.batch_ack
        SELECT b, k, meta->(k - 1)->>'v', 0, NULL, st FROM generate_series(1, 20) k;
    END;
    RETURN 1;
END $$;
});

my $lo = $node->safe_psql('postgres',
	q{SELECT min(account_id) FROM creditledger.accounts WHERE code LIKE 'tb:acct-%'});
my $buf = $node->safe_psql('postgres', q{SELECT creditledger.account_id('tb:buffered')});
my $split = $node->safe_psql('postgres', q{SELECT creditledger.account_id('tb:split')});

my $script = $node->basedir . '/batch.sql';
append_to_file($script, q{SELECT public.batch_post(:lo, 40, :buf, :split);
});
my @pgbench = (
	"$bindir/pgbench", '-n', '-c', '4', '-j', '2',
	'-h', $node->host, '-p', $node->port,
	'-D', "lo=$lo", '-D', "buf=$buf", '-D', "split=$split",
	'-f', $script);

# check: every promise of the file header that holds at any time.
sub check
{
	my ($when) = @_;
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM public.batch_ack k
			   WHERE k.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM creditledger.transfers t
			          WHERE t.voucher = k.voucher AND t.transfer_id = k.id)}),
		'0', "$when: every acknowledged item that succeeded is posted with its id");
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM public.batch_ack k
			   WHERE k.id IS NULL AND EXISTS (SELECT 1 FROM creditledger.transfers t
			          WHERE t.voucher = k.voucher)}),
		'0', "$when: no refused item left a transfer");
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM creditledger.transfers t
			   WHERE t.voucher LIKE 'tb-%' AND NOT EXISTS (SELECT 1 FROM public.batch_ack k
			          WHERE k.voucher = t.voucher AND k.id = t.transfer_id)}),
		'0', "$when: no transfer of a batch that was not acknowledged (the killed batch left nothing)");
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM (
			    SELECT batch, grp FROM public.batch_ack GROUP BY 1, 2
			    HAVING count(id) NOT IN (0, count(*))) x}),
		'0', "$when: every linked group and atomic batch succeeded or failed as a whole");
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM (
			    SELECT k.batch, k.grp FROM public.batch_ack k JOIN public.batch_sent s USING (batch)
			     WHERE NOT s.atomic GROUP BY 1, 2
			    HAVING count(k.id) = 0 AND (count(*) FILTER (WHERE k.sqlstate <> 'LD014') <> 1
			           OR count(*) FILTER (WHERE k.sqlstate = 'LD014') <> count(*) - 1)) x}),
		'0', "$when: a failed group has one item with its own error, the others LD014");
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM public.batch_sent s
			   WHERE (SELECT count(*) FROM public.batch_ack k WHERE k.batch = s.batch) <> 20}),
		'0', "$when: every batch sent has its 20 results");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM creditledger.verify_chain()'),
		'0', "$when: verify_chain: every chain intact");
	is( $node->safe_psql(
			'postgres', q{
BEGIN;
SELECT count(*) FROM (SELECT * FROM public.batch_sent b
                       WHERE NOT b.atomic OR NOT EXISTS (SELECT 1 FROM public.batch_ack k
                                                          WHERE k.batch = b.batch AND k.id IS NULL)
                       ORDER BY batch LIMIT 40) s
 CROSS JOIN LATERAL creditledger.post_batch(s.items, s.atomic) r
  JOIN public.batch_ack k ON k.batch = s.batch AND k.item = r.item
 WHERE k.id IS NOT NULL AND r.id IS DISTINCT FROM k.id;
ROLLBACK;}),
		'0', "$when: re-posting acknowledged batches returns the same ids");
}

# Phase 1: load, and kill -9 a backend in the middle of a batch.
my ($out1, $err1) = ('', '');
my $load = IPC::Run::start([ @pgbench, '-T', '8', 'postgres' ],
	'>', \$out1, '2>', \$err1, IPC::Run::timeout(180));
$node->poll_query_until('postgres', 'SELECT count(*) >= 60 FROM public.batch_sent')
  or die 'the batch load does not progress';
my $victim = '';
for (1 .. 200)
{
	$victim = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE state = 'active'
		     AND query LIKE '%batch_post%' AND pid <> pg_backend_pid() LIMIT 1});
	last if $victim ne '';
	select(undef, undef, undef, 0.01);
}
isnt($victim, '', 'a backend is running a batch');
kill 'KILL', $victim;
$load->finish;
note "pgbench during the crash: $out1 $err1";
$node->poll_query_until('postgres', 'SELECT 1', '1')
  or die 'the server did not come back after the crash';
like(slurp_file($node->logfile), qr/terminated by signal 9/,
	'the killed backend made the postmaster crash-restart');
my $sent1 = $node->safe_psql('postgres', 'SELECT count(*) FROM public.batch_sent');
cmp_ok($sent1, '>', 0, "batches acknowledged before the crash: $sent1");
check('after the crash');

# Phase 2: more load after the restart.
$node->command_ok([ @pgbench, '-T', '3', 'postgres' ],
	'batch load after the crash restart runs without errors');
my $sent = $node->safe_psql('postgres', 'SELECT count(*) FROM public.batch_sent');
cmp_ok($sent, '>', $sent1, "batches acknowledged in total: $sent");
my ($ok_items, $refused, $linked_failed) = split /\|/, $node->safe_psql('postgres',
	q{SELECT count(id), count(*) FILTER (WHERE sqlstate <> 'LD014'), count(*) FILTER (WHERE sqlstate = 'LD014')
	    FROM public.batch_ack});
note "items posted $ok_items, refused $refused, LD014 $linked_failed";
cmp_ok($refused, '>', 0, 'some items were refused (the load exercised failures)');
cmp_ok($linked_failed, '>', 0, 'some linked groups failed as a whole');
check('after more load');

# Drained, every rule passes and money is conserved.
ok( $node->poll_query_until(
		'postgres', 'SELECT coalesce(sum(buffered_count), 0) = 0 FROM creditledger.accounts'),
	'the worker drains the buffered account');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM creditledger.bcp_run(record => false) WHERE status <> 'pass'}),
	'0', 'every BCP rule passes');
is( $node->safe_psql(
		'postgres', q{SELECT sum(CASE WHEN normal_side = 'credit' THEN balance ELSE -balance END)
		   FROM creditledger.accounts}),
	'0', 'money is conserved (credits and debits over all accounts net to zero)');

$node->stop;
done_testing();
