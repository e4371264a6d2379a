# Dump and restore round trip.
#
# Every table and sequence that holds ledger data is registered with
# pg_extension_config_dump, so pg_dump + pg_restore into a fresh database
# must reproduce every account, transfer and journal entry exactly, leave the
# hash chains intact, and let posting continue where the original left off
# (sequences restored, each chain's next version and prev_hash following on).
#
# Steps: a node with the library preloaded; database "ledger" with accounts
# in two currencies and both normal sides, transfers with memo/metadata, a
# refused transfer (it consumes nothing visible, but may consume sequence
# values), a multi-leg entry and a reversal; pg_dump -Fc; pg_restore into a
# fresh database; compare the accounts, transfers and journal views row by
# row; verify_chain() in both; then post the same new transfer in both
# databases and compare what it produced.
#
# Credit and BCP (0.2.0) travel too: credit lines in a DAG with a diamond (L
# under A and B, both under T; the second edge by link_credit_line once L
# has a hold), a hot line with 4 slices over K, a non-revolving line, holds
# (one unfrozen in part, one with a far expiry), drawdowns from holds and
# direct, returns; a user BCP rule, a built-in rule disabled, a recorded
# bcp_run and a ledger_digest().  After the restore: the credit views, the
# rules (the user rule present, the 25 built-ins once each, enabled flags
# kept), the BCP history and the digests are identical; verify_chain()
# covers the credit chains; bcp_run(record => false) passes; verify_digest()
# of the digest taken on the source is true on the copy; and the same new
# credit operations and a recorded run get the same ids and continue the
# chains in both databases.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'creditledger'");
$node->start;

# The client programs of the server under test.
my $bindir = $node->config_data('--bindir');

$node->safe_psql('postgres', 'CREATE DATABASE ledger');
$node->safe_psql(
	'ledger', q{
CREATE EXTENSION creditledger;
-- user BCP rules run by a superuser execute as creditledger_bcp_runner
SELECT creditledger.setup_roles();

-- Accounts: assets (debit normal, no floor), wallets, an overdraft, income, USD.
SELECT creditledger.open_account('bank:cny', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('wallet:alice', 'CNY');
SELECT creditledger.open_account('wallet:bob', 'CNY', 'credit', -500,
                                 metadata => '{"tier": "gold"}');
SELECT creditledger.open_account('income:fees', 'CNY', 'credit', NULL);
SELECT creditledger.open_account('bank:usd', 'USD', 'debit', NULL);
SELECT creditledger.open_account('wallet:carol', 'USD');

-- Transfers.
SELECT creditledger.transfer('deposit-1', creditledger.account_id('bank:cny'),
                             creditledger.account_id('wallet:alice'), 10000,
                             'cash deposit', '{"channel": "branch"}');
SELECT creditledger.transfer('pay-1', creditledger.account_id('wallet:alice'),
                             creditledger.account_id('wallet:bob'), 2500, 'dinner');
SELECT creditledger.transfer('deposit-usd', creditledger.account_id('bank:usd'),
                             creditledger.account_id('wallet:carol'), 700);

-- A multi-leg entry: alice pays 1200, bob receives 1000, fees 200.
SELECT creditledger.post_entry('order-1',
    jsonb_build_array(
        jsonb_build_object('account', creditledger.account_id('wallet:alice'), 'debit', 1200),
        jsonb_build_object('account', creditledger.account_id('wallet:bob'), 'credit', 1000),
        jsonb_build_object('account', creditledger.account_id('income:fees'), 'credit', 200)),
    'order 1', '{"order": 1}');

-- A reversal of pay-1.
SELECT creditledger.reverse('pay-1', 'pay-1:refund', 'paid twice');
});

# Credit lines: a diamond T <- A, B <- L (L under B by link_credit_line,
# carrying L's hold up), a hot line HOT (4 slices) over K, a non-revolving
# line N; holds, drawdowns and returns.  BCP: a user rule, a built-in rule
# disabled, one recorded run, one digest.
$node->safe_psql(
	'ledger', q{
SET client_min_messages = warning;
SELECT creditledger.create_credit_line('T', 'CNY', 100000, metadata => '{"kind": "group"}');
SELECT creditledger.create_credit_line('A', 'CNY', 40000, ARRAY[creditledger.credit_line_id('T')]);
SELECT creditledger.create_credit_line('B', 'CNY', 30000, ARRAY[creditledger.credit_line_id('T')]);
SELECT creditledger.create_credit_line('L', 'CNY', 20000, ARRAY[creditledger.credit_line_id('A')]);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L'), 3000, 'hold-l1');
SELECT creditledger.link_credit_line(creditledger.credit_line_id('L'),
                                     creditledger.credit_line_id('B'));
SELECT creditledger.credit_use('hold-l1', 'draw-l1', 2000);
SELECT creditledger.credit_unfreeze('hold-l1', 'unfreeze-l1', 400);
SELECT creditledger.credit_return('draw-l1', 'return-l1', 500);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L'), 900, 'hold-l2',
                                  '2100-01-01 00:00:00+00');

SELECT creditledger.create_credit_line('HOT', 'CNY', 50000);
SELECT creditledger.set_credit_line_hot(creditledger.credit_line_id('HOT'), 4, 'per_slice');
SELECT creditledger.create_credit_line('K', 'CNY', 8000, ARRAY[creditledger.credit_line_id('HOT')]);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('K'), 1200, 'hold-k1');
SELECT creditledger.credit_use('hold-k1', 'draw-k1', 700, release_rest => true);
SELECT creditledger.credit_use_direct(creditledger.credit_line_id('K'), 300, 'draw-k2');
SELECT creditledger.credit_return('draw-k2', 'return-k2', 300);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('K'), 150, 'hold-k3');

SELECT creditledger.create_credit_line('N', 'CNY', 1000, revolving => false);
SELECT creditledger.credit_use_direct(creditledger.credit_line_id('N'), 600, 'draw-n1');
SELECT creditledger.credit_return('draw-n1', 'return-n1', 600);

SELECT creditledger.bcp_add_rule('no_big_holds',
    $$SELECT hold_id, amount FROM creditledger.ledger_credit_holds WHERE amount > 100000$$,
    'No hold above 1000.00.', 'warning');
SELECT creditledger.bcp_enable_rule('holds_not_overdue', false);
SELECT count(*) FROM creditledger.bcp_run();
});
my ($digest_id, $digest) = split /\|/,
  $node->safe_psql('ledger',
	q{SELECT digest_id, encode(digest, 'hex') FROM creditledger.ledger_digest()});

# A refused posting leaves nothing behind (it may consume sequence values,
# which the restored sequences must then reflect).
my ($ret, $stdout, $stderr) = $node->psql('ledger',
	q{SELECT creditledger.transfer('too-much', creditledger.account_id('wallet:carol'),
	                               creditledger.account_id('bank:usd'), 1000000)});
isnt($ret, 0, 'an overdrawing transfer is refused');
like($stderr, qr/ERROR/, 'the refusal is an error');

# What the comparison covers: every column of the three views, in id order.
my %queries = (
	accounts  => 'SELECT * FROM creditledger.accounts ORDER BY account_id',
	transfers => 'SELECT * FROM creditledger.transfers ORDER BY transfer_id',
	journal   => 'SELECT * FROM creditledger.journal ORDER BY entry_id',
	balances  => 'SELECT account_id, creditledger.balance(account_id) '
	  . 'FROM creditledger.accounts ORDER BY account_id',
	credit_lines => 'SELECT * FROM creditledger.credit_lines ORDER BY line_id',
	credit_line_state => 'SELECT s.* FROM creditledger.credit_lines l, '
	  . 'creditledger.credit_line_state(l.line_id) s ORDER BY s.line_id',
	credit_slices =>
	  'SELECT * FROM creditledger.credit_line_slices ORDER BY line_id, slice',
	credit_holds => 'SELECT * FROM creditledger.credit_holds ORDER BY hold_id',
	credit_drawdowns =>
	  'SELECT * FROM creditledger.credit_drawdowns ORDER BY drawdown_id',
	credit_journal => 'SELECT * FROM creditledger.credit_journal ORDER BY entry_id',
	credit_links =>
	  'SELECT * FROM creditledger.credit_line_links ORDER BY child_id, parent_id',
	credit_operations =>
	  'SELECT * FROM creditledger.credit_operations ORDER BY operation_id',
	# Built-in rules are recreated by CREATE EXTENSION (so their created_at
	# differs); user rules are restored as they were.
	# (The enabled flag of built-in rules is checked apart, below.)
	bcp_rules => 'SELECT name, description, severity, check_sql, builtin, '
	  . 'CASE WHEN NOT builtin THEN enabled END, CASE WHEN NOT builtin THEN created_at END '
	  . 'FROM creditledger.bcp_rules ORDER BY name',
	bcp_results => 'SELECT * FROM creditledger.bcp_results ORDER BY run_id, rule',
	bcp_digests => 'SELECT * FROM creditledger.bcp_digests ORDER BY digest_id',
	bcp_digest_heads => 'SELECT * FROM creditledger.bcp_digest_heads '
	  . 'ORDER BY digest_id, kind, chain_id, sub',
);

my %before;
$before{$_} = $node->safe_psql('ledger', $queries{$_}) for keys %queries;

# The comparison must not be vacuous.
is($node->safe_psql('ledger', 'SELECT count(*) FROM creditledger.accounts'),
	'6', 'six accounts before the dump');
is($node->safe_psql('ledger', 'SELECT count(*) FROM creditledger.transfers'),
	'5', 'five transfers before the dump (the refused one left none)');
is($node->safe_psql('ledger', 'SELECT count(*) FROM creditledger.journal'),
	'11', 'eleven journal entries before the dump');
is( $node->safe_psql(
		'ledger', q{SELECT creditledger.balance(creditledger.account_id('wallet:alice'))}),
	'8800',
	'alice: 10000 - 2500 - 1200 + 2500');
is($node->safe_psql('ledger', 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'chains intact before the dump');
is( $node->safe_psql(
		'ledger', q{SELECT string_agg(code || ':' || frozen || '/' || used || '/' || returned
		                              || '/' || available, ' ' ORDER BY code)
		              FROM creditledger.credit_lines}),
	'A:1500/1500/500/37000 B:1500/1500/500/27000 HOT:150/700/300/49150 '
	  . 'K:150/700/300/7150 L:1500/1500/500/17000 N:0/0/600/400 T:1500/1500/500/97000',
	'credit lines before the dump (L counted once in T through the diamond)');
is( $node->safe_psql(
		'ledger', q{SELECT l.journal_chains || ' ' || count(*) FILTER (WHERE j.slice > 0)
		                   || ' ' || count(*) FILTER (WHERE j.slice = 0)
		              FROM creditledger.credit_lines l
		              JOIN creditledger.credit_journal j USING (line_id)
		             WHERE l.code = 'HOT' GROUP BY l.journal_chains}),
	'per_slice 5 0', 'the hot line chains its journal per slice');
is( $node->safe_psql(
		'ledger', q{SELECT count(*) FILTER (WHERE builtin) || ' '
		                   || count(*) FILTER (WHERE NOT builtin)
		              FROM creditledger.bcp_rules}),
	'25 1', 'twenty-five built-in rules and one user rule before the dump');
is( $node->safe_psql(
		'ledger', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE status = 'pass')
		              FROM creditledger.bcp_results}),
	'25 25', 'one recorded run before the dump: 25 enabled rules, all passing');

# Dump, and restore into a fresh database.
my $dump = $node->basedir . '/ledger.dump';
$node->command_ok([ "$bindir/pg_dump", '-Fc', '-f', $dump, '-d', 'ledger' ],
	'pg_dump -Fc ledger');
$node->safe_psql('postgres', 'CREATE DATABASE ledger_restored TEMPLATE template0');
$node->command_ok(
	[ "$bindir/pg_restore", '--exit-on-error', '-d', 'ledger_restored', $dump ],
	'pg_restore into ledger_restored');

foreach my $what (sort keys %queries)
{
	is($node->safe_psql('ledger_restored', $queries{$what}),
		$before{$what}, "$what identical after restore");
}

is($node->safe_psql('ledger_restored', 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'chains intact in the restored database (money and credit)');
is( $node->safe_psql(
		'ledger_restored', q{SELECT count(*) || ' ' || count(DISTINCT name)
		              FROM creditledger.bcp_rules WHERE builtin}),
	'25 25', 'the built-in rules exist once each in the restored database');
is( $node->safe_psql(
		'ledger_restored', q{SELECT name || ' ' || severity || ' ' || enabled
		              FROM creditledger.bcp_rules WHERE NOT builtin}),
	'no_big_holds warning true', 'the user rule was restored');
is( $node->safe_psql(
		'ledger_restored', q{SET client_min_messages = warning;
		    SELECT rule, status, mismatches, sample FROM creditledger.bcp_run(record => false)
		     WHERE status <> 'pass'}),
	'', 'bcp_run(record => false) in the restored database: every rule passes');

# Built-in rules are made by CREATE EXTENSION; a disabled one stays disabled
# through bcp_builtin_switches (dumped, applied by a trigger on restore).
is( $node->safe_psql(
		'ledger_restored',
		q{SELECT enabled FROM creditledger.bcp_rules WHERE name = 'holds_not_overdue'}),
	'f', 'the built-in rule disabled in the source stays disabled');
is( $node->safe_psql(
		'ledger_restored', q{SET client_min_messages = warning;
		    SELECT string_agg(rule, ',' ORDER BY rule) FROM creditledger.bcp_run(record => false)}),
	$node->safe_psql(
		'ledger', q{SELECT string_agg(name, ',' ORDER BY name)
		              FROM creditledger.bcp_rules WHERE enabled}),
	'... and bcp_run runs the rules enabled in the source');
is( $node->safe_psql(
		'ledger_restored', "SELECT creditledger.verify_digest($digest_id, '\\x$digest')"),
	't', 'the digest taken on the source verifies in the restored database');
is( $node->safe_psql(
		'ledger_restored',
		"SELECT creditledger.verify_digest($digest_id, sha256('\\x$digest'::bytea))"),
	'f', '... and a different digest does not');

# Idempotency survives the restore: replaying a voucher returns its id.  The
# replay is done in both databases, so that whatever it does to the sequences
# (a replay may consume a transfer id) happens on both sides.
my $replay = q{SELECT creditledger.transfer('pay-1',
    creditledger.account_id('wallet:alice'), creditledger.account_id('wallet:bob'),
    2500, 'dinner')};
my $pay1_id = $node->safe_psql('ledger',
	q{SELECT transfer_id FROM creditledger.transfers WHERE voucher = 'pay-1'});
is($node->safe_psql('ledger', $replay),
	$pay1_id, 'replaying a voucher in the original database returns its id');
is($node->safe_psql('ledger_restored', $replay),
	$pay1_id, 'replaying a voucher in the restored database returns the original id');

# Posting continues: the same new transfer in both databases gets the same
# ids, versions, balances and prev_hash (the previous head's hash).
my $post = q{SELECT creditledger.transfer('after-restore',
    creditledger.account_id('wallet:alice'), creditledger.account_id('income:fees'), 300)};
my $new_id = $node->safe_psql('ledger', $post);
is($node->safe_psql('ledger_restored', $post),
	$new_id, 'a new transfer gets the same id in both databases');

my $new_entries = qq{SELECT entry_id, transfer_id, voucher, account_id, sub_account,
    version, side, amount, balance_before, balance_after, is_reversal, prev_hash
    FROM creditledger.journal WHERE transfer_id = $new_id ORDER BY entry_id};
my $orig_new = $node->safe_psql('ledger', $new_entries);
isnt($orig_new, '', 'the new transfer has journal entries');
is($node->safe_psql('ledger_restored', $new_entries),
	$orig_new, 'the new journal entries continue the restored chains');

is( $node->safe_psql(
		'ledger_restored', qq{SELECT count(*) FROM creditledger.journal j
		    JOIN creditledger.journal p ON p.account_id = j.account_id
		     AND p.sub_account = j.sub_account AND p.version = j.version - 1
		    WHERE j.transfer_id = $new_id AND j.prev_hash = p.hash}),
	'2',
	'each new entry links to the restored head of its chain');

is( $node->safe_psql(
		'ledger_restored', q{SELECT creditledger.balance(creditledger.account_id('wallet:alice'))}),
	'8500',
	'alice after the new transfer in the restored database');
is($node->safe_psql('ledger_restored', 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'chains still intact after posting in the restored database');

# Credit continues too: the same operations in both databases (a freeze
# through the diamond, a use, a return) get the same ids and continue every
# credit chain: the first new entry of each chain links to the restored head
# (the same prev_hash as in the source; later ones differ, as their
# predecessors' hashes cover created_at).
my $credit_ops = q{
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L'), 250, 'hold-after');
SELECT creditledger.credit_use('hold-after', 'draw-after', 200);
SELECT creditledger.credit_return('draw-l1', 'return-after', 100);
};
my $credit_orig = $node->safe_psql('ledger', $credit_ops);
is($node->safe_psql('ledger_restored', $credit_ops),
	$credit_orig, 'new credit operations get the same ids in both databases');
my $credit_new = q{SELECT entry_id, line_id, slice, version, op, ref, frozen_delta,
    used_delta, returned_delta, frozen_after, used_after, returned_after,
    CASE WHEN ref = 'hold-after' THEN prev_hash END
    FROM creditledger.credit_journal
    WHERE ref IN ('hold-after', 'draw-after', 'return-after')
    ORDER BY entry_id};
my $credit_new_orig = $node->safe_psql('ledger', $credit_new);
is(scalar(split /\n/, $credit_new_orig), 12,
	'the new credit operations wrote 3 entries on each of L, A, B and T');
is($node->safe_psql('ledger_restored', $credit_new),
	$credit_new_orig, 'the new credit journal entries continue the restored chains');

# Credit references survive the restore: replays return the original ids.
my $credit_replay = q{
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L'), 3000, 'hold-l1');
SELECT creditledger.credit_use('hold-l1', 'draw-l1', 2000);
SELECT creditledger.credit_return('draw-k2', 'return-k2', 300);
SELECT creditledger.credit_use_direct(creditledger.credit_line_id('N'), 600, 'draw-n1');
};
is($node->safe_psql('ledger_restored', $credit_replay),
	$node->safe_psql('ledger', $credit_replay),
	'replaying credit references returns the same ids in both databases');

# A freeze through the hot line takes a slice chosen by backend pid, so only
# its effect on the totals and the chain it extends are compared.
my $hot_op = q{SELECT creditledger.credit_freeze(creditledger.credit_line_id('K'), 90, 'hold-k-after')};
is($node->safe_psql('ledger_restored', $hot_op), $node->safe_psql('ledger', $hot_op),
	'a freeze through the hot line gets the same hold id in both databases');
my $linked = q{SELECT count(*) FILTER (WHERE j.prev_hash = coalesce(p.hash,
                   '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea))
                   || '/' || count(*)
    FROM creditledger.credit_journal j
    LEFT JOIN creditledger.credit_journal p ON p.line_id = j.line_id
     AND p.slice = j.slice AND p.version = j.version - 1
   WHERE j.ref IN ('hold-after', 'draw-after', 'return-after', 'hold-k-after')};
is($node->safe_psql('ledger_restored', $linked),
	'14/14', 'every new credit entry links to the head of its chain (hot slice included)');
is($node->safe_psql('ledger_restored', $queries{credit_line_state}),
	$node->safe_psql('ledger', $queries{credit_line_state}),
	'credit_line_state identical after the new credit operations');
is($node->safe_psql('ledger_restored', 'SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'chains still intact after the credit operations in the restored database');

# A recorded run gets the next run id in both databases.
my $run = q{SET client_min_messages = warning;
SELECT count(*) > 0 FROM creditledger.bcp_run();
SELECT max(run_id) FROM creditledger.bcp_results};
my $run_orig = $node->safe_psql('ledger', $run);
is($node->safe_psql('ledger_restored', $run),
	$run_orig, 'a new recorded bcp_run gets the same run id in both databases');
is( $node->safe_psql(
		'ledger_restored', q{SELECT count(*) FROM creditledger.bcp_results
		   WHERE run_id = (SELECT max(run_id) FROM creditledger.bcp_results)
		     AND status <> 'pass'}),
	'0', '... and passes');

$node->stop;

done_testing();
