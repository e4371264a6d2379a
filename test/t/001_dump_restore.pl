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
	'0', 'chains intact in the restored database');

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

$node->stop;

done_testing();
