# Lending under load and through a crash.
#
# One node with the library preloaded, its worker serving database
# "postgres" (flushing and expiring every 200 ms), restart_after_crash on.
# Concurrent load (pgbench, 6 clients): applications that freeze and then
# disburse (immediately or pending, 放款在途), direct disbursements, posts
# (full and partial) and voids of pending disbursements, and repayments, on
# 20 lines under one group line, each with its receivable account, into
# a split payout account and plain borrower accounts; kill -9 of the worker
# in the middle (the postmaster crash-restarts every session), more load,
# then: every acknowledged disbursement is in the credit journal and in the
# money journal (or is its pending transfer), every acknowledged repayment
# in both, nothing unacknowledged exists, each line's used equals its
# receivable's balance, and the two lending rules (and every other built-in
# rule) pass, chains verify.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lending');
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

sql(q{
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('payout', 'CNY', 'credit', 0, 'split', 4);
SELECT creditledger.create_credit_line('group', 'CNY', 100000000);
SELECT creditledger.open_account('borrower:' || i, 'CNY', 'credit', 0) FROM generate_series(1, 20) i;
SELECT creditledger.create_credit_line('line:' || i, 'CNY', 1000000,
                                       ARRAY[creditledger.credit_line_id('group')])
  FROM generate_series(1, 20) i;
SELECT creditledger.set_credit_line_account(creditledger.credit_line_id('line:' || i),
           creditledger.open_account('recv:' || i, 'CNY', 'debit', 0))
  FROM generate_series(1, 20) i;
-- borrowers have money to repay with
SELECT creditledger.transfer('fund:' || i, creditledger.account_id('bank'),
                             creditledger.account_id('borrower:' || i), 100000)
  FROM generate_series(1, 20) i;
CREATE TABLE public.ack (seq bigserial PRIMARY KEY, ref text NOT NULL UNIQUE, kind text NOT NULL,
                         target text, amount bigint, id bigint NOT NULL);
CREATE SEQUENCE public.vseq;

-- op 1: freeze and disburse (immediate); 2: freeze and disburse pending
-- (with release_rest); 3: direct disbursement into the split payout
-- account; 4: direct pending; 5: post a pending one (all); 6: post part,
-- not final; 7: void one; 8: repay part of a drawdown.  A post, void or
-- repayment that finds its target settled (LD013, LD008) is no ack.
CREATE FUNCTION public.lend_op(op int, n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v text := 'l-' || nextval('public.vseq');
    line bigint := creditledger.credit_line_id('line:' || n);
    borrower bigint := creditledger.account_id('borrower:' || n);
    amt bigint := 1 + (random() * 99)::int;
    t text;
    r bigint;
BEGIN
    IF op <= 2 THEN
        PERFORM creditledger.credit_freeze(line, amt + 10, v || ':h');
        r := creditledger.credit_disburse(v || ':h', v, borrower, amt, release_rest => op = 2,
                                          pending => op = 2);
        INSERT INTO public.ack (ref, kind, amount, id)
        VALUES (v, CASE op WHEN 1 THEN 'disburse' ELSE 'pending' END, amt, r);
    ELSIF op <= 4 THEN
        r := creditledger.credit_disburse_direct(line, v,
                 CASE op WHEN 3 THEN creditledger.account_id('payout') ELSE borrower END,
                 amt, pending => op = 4);
        INSERT INTO public.ack (ref, kind, amount, id)
        VALUES (v, CASE op WHEN 3 THEN 'disburse' ELSE 'pending' END, amt, r);
    ELSE
        SELECT a.ref INTO t FROM public.ack a
         WHERE a.kind = CASE WHEN op <= 7 THEN 'pending' ELSE 'disburse' END
         ORDER BY a.seq DESC LIMIT 1 OFFSET (random() * 10)::int;
        IF t IS NULL THEN
            RETURN NULL;
        END IF;
        BEGIN
            IF op = 5 THEN
                r := creditledger.transfer_post(v, t);
            ELSIF op = 6 THEN
                r := creditledger.transfer_post(v, t, 1, false);
            ELSIF op = 7 THEN
                r := creditledger.transfer_void(v, t);
            ELSE
                r := creditledger.credit_repay(t, v, creditledger.account_id('borrower:' || n), 1);
            END IF;
        EXCEPTION WHEN SQLSTATE 'LD013' OR SQLSTATE 'LD008' OR SQLSTATE 'LD001' THEN
            RETURN NULL;
        END;
        INSERT INTO public.ack (ref, kind, target, amount, id)
        VALUES (v, CASE op WHEN 5 THEN 'post' WHEN 6 THEN 'post' WHEN 7 THEN 'void' ELSE 'repay' END,
                t, CASE op WHEN 6 THEN 1 WHEN 8 THEN 1 END, r);
    END IF;
    RETURN r;
END $$;
});

my $script = $node->basedir . '/lending.sql';
append_to_file($script, q{\set op random(1, 8)
\set n random(1, 20)
SELECT public.lend_op(:op, :n);
});
my @pgbench = (
	"$bindir/pgbench", '-n', '-c', '6', '-j', '2',
	'-h', $node->host, '-p', $node->port, '-f', $script);

my ($out1, $err1) = ('', '');
my $load = IPC::Run::start([ @pgbench, '-T', '8', 'postgres' ],
	'>', \$out1, '2>', \$err1, IPC::Run::timeout(120));
$node->poll_query_until('postgres', 'SELECT count(*) >= 800 FROM public.ack')
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
ok($node->poll_query_until('postgres',
		q{SELECT NOT EXISTS (SELECT 1 FROM creditledger.posting_buffer)}),
	'the worker drained the buffers');

my %n = map { $_ => sql("SELECT count(*) FROM public.ack WHERE kind = '$_'") }
  qw(disburse pending post void repay);
cmp_ok($n{$_}, '>', 0, "acknowledged: $n{$_} $_") for qw(disburse pending post void repay);

# disbursements: both journals, with the acknowledged ids
is( sql(q{SELECT count(*) FROM public.ack a
           JOIN creditledger.credit_drawdowns w ON w.ref = a.ref AND w.drawdown_id = a.id
           JOIN creditledger.credit_journal j ON j.ref = a.ref AND j.op = 'use'
            AND j.line_id = w.line_id
           JOIN creditledger.transfers t ON t.voucher = a.ref
          WHERE a.kind = 'disburse'
            AND (SELECT count(*) FROM creditledger.journal e WHERE e.transfer_id = t.transfer_id) = 2}),
	$n{disburse}, 'every acknowledged immediate disbursement: its drawdown, its credit journal entry on its line, its transfer with two journal entries');
is( sql(q{SELECT count(*) FROM public.ack a
           JOIN creditledger.credit_disbursements d ON d.ref = a.ref AND d.drawdown_id = a.id
           JOIN creditledger.pending_transfers p ON p.voucher = a.ref AND p.pending_id = d.pending_id
          WHERE a.kind = 'pending'}),
	$n{pending}, 'every acknowledged pending disbursement: its drawdown and its pending transfer');
is(sql(q{SELECT count(*) FROM creditledger.credit_disbursements WHERE ref LIKE 'l-%'}),
	$n{disburse} + $n{pending}, 'no disbursement exists that was not acknowledged');
is( sql(q{SELECT count(*) FROM creditledger.transfers t WHERE t.voucher LIKE 'l-%'
             AND NOT EXISTS (SELECT 1 FROM public.ack a WHERE a.ref = t.voucher)}),
	'0', 'no transfer (disbursement, post, repayment) exists that was not acknowledged');
# posts and voids of pending disbursements
is( sql(q{SELECT count(*) FROM public.ack a JOIN creditledger.transfers t
            ON t.voucher = a.ref AND t.transfer_id = a.id WHERE a.kind = 'post'}),
	$n{post}, 'every acknowledged post is a transfer');
is( sql(q{SELECT count(*) FROM creditledger.credit_disbursements d
           WHERE d.status = 'voided'
             AND NOT EXISTS (SELECT 1 FROM public.ack a WHERE a.kind = 'void' AND a.target = d.ref)}),
	'0', 'every voided disbursement has its acknowledged void');
is( sql(q{SELECT count(*) FROM creditledger.credit_disbursements d
           WHERE d.posted <> coalesce((SELECT sum(a.amount) FROM public.ack a
                                        WHERE a.kind = 'post' AND a.target = d.ref), 0)
             AND d.pending_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM public.ack a WHERE a.kind = 'post' AND a.target = d.ref
                               AND a.amount IS NULL)}),
	'0', 'a disbursement posted only in parts has posted exactly its acknowledged parts');
# repayments: both journals
is( sql(q{SELECT count(*) FROM public.ack a
           JOIN creditledger.transfers t ON t.voucher = a.ref AND t.memo = 'credit_repay'
          WHERE a.kind = 'repay'
            AND EXISTS (SELECT 1 FROM creditledger.credit_journal j
                         WHERE j.ref = a.ref AND j.op = 'return')}),
	$n{repay}, 'every acknowledged repayment: its credit journal entry and its transfer');
is(sql(q{SELECT count(*) FROM creditledger.transfers WHERE voucher LIKE 'l-%' AND memo = 'credit_repay'}),
	$n{repay}, 'no repayment exists that was not acknowledged');

# the model: per line, used = the receivable's balance = acknowledged
# disbursed and posted amounts less acknowledged repayments
is( sql(q{
WITH m AS (
    SELECT w.line_id,
           sum(CASE WHEN a.kind = 'disburse' THEN a.amount ELSE 0 END)
         + coalesce(sum(d.posted) FILTER (WHERE a.kind = 'pending'), 0) AS lent
      FROM public.ack a JOIN creditledger.credit_drawdowns w ON w.ref = a.ref
      LEFT JOIN creditledger.credit_disbursements d ON d.ref = a.ref
     WHERE a.kind IN ('disburse', 'pending') GROUP BY w.line_id
), r AS (
    SELECT w.line_id, count(*) AS repaid
      FROM public.ack a JOIN creditledger.credit_drawdowns w ON w.ref = a.target
     WHERE a.kind = 'repay' GROUP BY w.line_id
)
SELECT count(*) FROM creditledger.credit_line_accounts x
  JOIN creditledger.credit_lines l ON l.line_id = x.line_id
  JOIN creditledger.accounts b ON b.account_id = x.receivable_account
  LEFT JOIN m ON m.line_id = x.line_id LEFT JOIN r ON r.line_id = x.line_id
 WHERE l.used <> b.balance OR l.used <> coalesce(m.lent, 0) - coalesce(r.repaid, 0)}),
	'0', 'per line: used = the receivable balance = acknowledged lending less acknowledged repayments');
cmp_ok(sql(q{SELECT used FROM creditledger.credit_lines WHERE code = 'group'}), '>', 0,
	'the group line carries its lines\' use (the check is not vacuous)');
is( sql(q{SELECT coalesce(string_agg(rule || ' ' || status, ', '), '')
            FROM creditledger.bcp_run(ARRAY['credit_used_equals_receivable',
                                            'credit_frozen_covers_disbursements_in_transit'], false)
           WHERE status <> 'pass'}),
	'', 'the two lending rules pass');
is(sql('SELECT count(*) FROM creditledger.verify_chain()'), '0',
	'every chain verifies (money and credit)');
is( sql(q{SELECT coalesce(string_agg(rule || ' ' || status, ', '), '')
            FROM creditledger.bcp_run(record => false) WHERE status <> 'pass' AND severity = 'critical'}),
	'', 'every critical built-in BCP rule passes');

$node->stop;
done_testing();
