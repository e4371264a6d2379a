# Background worker: credit holds past their expires_at are released without
# anyone calling credit_expire_holds().
#
# One node with the library preloaded, its worker serving database
# "postgres" and releasing due holds every 200 ms
# (creditledger.hold_expiry_interval).
#
#  (a) lines G (plain) over L1 and HOT (hot, 4 slices) over L2, and holds:
#        h1  100 on L1, due in 2 s
#        h3   30 on L1, due in 2 s, 10 of it used before it falls due
#        h2   50 on L2, due in 2 s (its release goes through a hot slice)
#        late 40 on L1, due in an hour
#        keep 25 on L2, no expiry
#      While nothing is due, a few expiry intervals change nothing.
#  (b) Without any call, the worker releases h1, h2 and the rest of h3:
#      remaining 0, status 'expired' in credit_holds; every line's frozen
#      falls back to what late and keep hold (used stays), the hot line's
#      expiry goes to its own row and a gather finds it; stat_workers.holds_expired
#      counts the 3 holds, with no errors; the credit journal has one
#      'expire' entry per hold and node, carrying exactly what was left;
#      verify_chain() returns no rows; late and keep are untouched; an
#      expired hold cannot be used (LD007).
#  (c) hold_expiry_interval = 0 (SIGHUP) turns the releases off: a hold
#      falls due and stays unreleased while the worker keeps cycling; reset,
#      the worker releases it.
#  (d) temporary limits: the worker starts a future-dated one at its
#      valid_from and ends it, and one on the hot line, when their windows
#      pass (journal entries, slices spread again, rules pass, no errors).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PostgreSQL::Test::Cluster->new('credit_worker');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
creditledger.hold_expiry_interval = '200ms'
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION creditledger');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT state NOT IN ('waiting for extension', 'starting')
		   FROM creditledger.stat_workers WHERE database = 'postgres'}),
	'the worker found the extension');

# sql SQL: the result of SQL in "postgres".
sub sql
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

###########################################################################
# (a) lines and holds; nothing due yet
###########################################################################

sql(q{
SELECT creditledger.create_credit_line('G', 'CNY', 1000);
SELECT creditledger.create_credit_line('HOT', 'CNY', 1000);
SELECT creditledger.set_credit_line_hot(creditledger.credit_line_id('HOT'), 4);
SELECT creditledger.create_credit_line('L1', 'CNY', 500, ARRAY[creditledger.credit_line_id('G')]);
SELECT creditledger.create_credit_line('L2', 'CNY', 500, ARRAY[creditledger.credit_line_id('HOT')]);
});
# One transaction: every due hold gets the same expires_at.
sql(q{
BEGIN;
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L1'), 100, 'h1', now() + interval '2 seconds');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L1'), 30, 'h3', now() + interval '2 seconds');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L2'), 50, 'h2', now() + interval '2 seconds');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L1'), 40, 'late', now() + interval '1 hour');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('L2'), 25, 'keep');
SELECT creditledger.credit_use('h3', 'd3', 10);
COMMIT;
});

# lines: "code frozen used available" per line, in id order.
sub lines
{
	return sql(q{SELECT string_agg(concat_ws(' ', code, frozen, used, available), ', ' ORDER BY line_id)
	             FROM creditledger.credit_lines});
}

# holds: "ref remaining used released status" per hold, by ref (the view).
sub holds
{
	return sql(q{SELECT string_agg(concat_ws(' ', ref, remaining, used_amount, released_amount, status), ', ' ORDER BY ref)
	             FROM creditledger.credit_holds});
}

my $before_lines = 'G 160 10 830, HOT 75 0 925, L1 160 10 330, L2 75 0 425';
my $before_holds = 'h1 100 0 0 open, h2 50 0 0 open, h3 20 10 0 open, keep 25 0 0 open, late 40 0 0 open';

# Three expiry intervals, then look, as long as the due holds are not due
# yet (a very slow machine skips these checks rather than fail them).
sleep(0.6);
my ($not_due_yet, $lines_now, $holds_now, $expired_now) = split(
	/\|/,
	sql(q{SELECT (SELECT now() < min(expires_at) FROM creditledger.credit_holds),
	           (SELECT string_agg(concat_ws(' ', code, frozen, used, available), ', ' ORDER BY line_id)
	              FROM creditledger.credit_lines),
	           (SELECT string_agg(concat_ws(' ', ref, remaining, used_amount, released_amount, status), ', ' ORDER BY ref)
	              FROM creditledger.credit_holds),
	           (SELECT holds_expired FROM creditledger.stat_workers)}));
SKIP:
{
	skip 'the holds fell due before the first look', 3 unless $not_due_yet eq 't';
	is($lines_now, $before_lines, 'before the holds are due: the lines count them all');
	is($holds_now, $before_holds, 'before the holds are due: every hold is open');
	is($expired_now, '0', 'before the holds are due: holds_expired is 0');
}

###########################################################################
# (b) the worker releases the due holds
###########################################################################

ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) = 3 FROM creditledger.credit_holds
		   WHERE status = 'expired' AND remaining = 0 AND closed_at IS NOT NULL}),
	'the worker releases the three due holds without being asked');
ok( $node->poll_query_until(
		'postgres', q{SELECT holds_expired = 3 FROM creditledger.stat_workers}),
	'stat_workers.holds_expired counts them');

is(holds(),
	'h1 0 0 100 expired, h2 0 0 50 expired, h3 0 10 20 expired, keep 25 0 0 open, late 40 0 0 open',
	'credit_holds: h1, h2 and the rest of h3 released as expired; late and keep untouched');
is( sql(q{SELECT string_agg(ref || ' ' || status, ', ' ORDER BY ref) FROM creditledger.ledger_credit_holds}),
	'h1 expired, h2 expired, h3 expired, keep open, late open',
	'the table says expired too (not only the view)');
is(lines(), 'G 40 10 950, HOT 25 0 975, L1 40 10 450, L2 25 0 475',
	'frozen falls back to what late and keep hold; used stays');
# An expiry writes to the hot line's own row, not to a slice: the slices
# still hold the headroom they had (925), never more than the line has
# (975); the next gather finds the 50 freed.
is( sql(q{SELECT count(*) || ' ' || sum(headroom) || ' ' || bool_and(headroom >= 0)
	       FROM creditledger.credit_line_slices
	      WHERE line_id = creditledger.credit_line_id('HOT')}),
	'4 925 true', 'the hot line\'s slices hold no more than its available amount');
is( sql(q{SELECT frozen_delta FROM creditledger.credit_journal
	     WHERE line_id = creditledger.credit_line_id('HOT') AND op = 'expire' AND slice = 0}),
	'-50', 'the expiry is an entry of the hot line\'s own chain (slice 0)');
sql(q{SELECT creditledger.credit_freeze(creditledger.credit_line_id('HOT'), 975, 'gather')});
is( sql(q{SELECT sum(headroom) || ' ' || (SELECT available FROM creditledger.credit_lines
	                                          WHERE code = 'HOT')
	       FROM creditledger.credit_line_slices
	      WHERE line_id = creditledger.credit_line_id('HOT')}),
	'0 0', 'a freeze of all 975 gathers the freed headroom too');
sql(q{SELECT creditledger.credit_unfreeze('gather', 'gather-back')});
# HOT's slices are journaled in batches (set_credit_line_hot's default):
# the worker settles them (creditledger.hot_line_settle_interval): nothing
# stays pending, the batch entries chain on, the rules pass.
ok( $node->poll_query_until(
		'postgres', q{SELECT count(*) = 0 FROM creditledger.credit_line_slices
		               WHERE pending_since IS NOT NULL}),
	'the worker journals the batched hot line\'s pending slice changes');
is( sql(q{SELECT bool_and(op = 'batch') || ' ' || (count(*) > 0)
	       FROM creditledger.credit_journal
	      WHERE line_id = creditledger.credit_line_id('HOT') AND slice > 0}),
	'true true', 'as batch entries of the slices\' chains');
is( sql(q{SELECT count(*) FROM creditledger.verify_chain()}), '0',
	'verify_chain() after the settles');
is( sql(q{SELECT errors || ' ' || coalesce(last_error, '-') FROM creditledger.stat_workers}),
	'0 -', 'the worker had no errors');

is( sql(q{SELECT string_agg(concat_ws(' ', j.ref, l.code, j.frozen_delta, j.used_delta), ', '
	                        ORDER BY j.ref, l.line_id)
	       FROM creditledger.credit_journal j JOIN creditledger.credit_lines l USING (line_id)
	      WHERE j.op = 'expire'}),
	'h1 G -100 0, h1 L1 -100 0, h2 HOT -50 0, h2 L2 -50 0, h3 G -20 0, h3 L1 -20 0',
	'one expire entry per hold and node, carrying what was left');
is( sql(q{SELECT count(*) FROM creditledger.credit_journal
	     WHERE ref IN ('late', 'keep') AND op <> 'freeze'}),
	'0', 'late and keep have no entries but their freezes');
is(sql('SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'verify_chain() returns no rows');

my ($rc, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT creditledger.credit_use('h1', 'too-late', 10)},
	extra_params => [ '-v', 'VERBOSITY=sqlstate' ]);
like($stderr, qr/LD007/, 'an expired hold cannot be used (LD007)');

###########################################################################
# (c) hold_expiry_interval = 0 turns the releases off
###########################################################################

sql(q{ALTER SYSTEM SET creditledger.hold_expiry_interval = 0; SELECT pg_reload_conf()});
# Let the worker take the SIGHUP: half a second and a few cycles of its
# loop (which reloads the configuration first) after pg_reload_conf().
my $cycles = sql('SELECT cycles FROM creditledger.stat_workers');
sleep(0.5);
$node->poll_query_until('postgres',
	"SELECT cycles >= $cycles + 3 FROM creditledger.stat_workers")
  or die 'the worker does not cycle';
sql(q{SELECT creditledger.credit_freeze(creditledger.credit_line_id('L1'), 5, 'off',
                                      now() + interval '300 milliseconds')});
sleep(1.2);
is( sql(q{SELECT concat_ws(' ', remaining, status, now() > expires_at)
	       FROM creditledger.ledger_credit_holds WHERE ref = 'off'}),
	'5 open t', 'interval 0: a due hold stays unreleased');
is(sql('SELECT holds_expired FROM creditledger.stat_workers'),
	'3', 'interval 0: holds_expired does not move');

sql(q{ALTER SYSTEM RESET creditledger.hold_expiry_interval; SELECT pg_reload_conf()});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT status = 'expired' AND remaining = 0
		   FROM creditledger.ledger_credit_holds WHERE ref = 'off'}),
	'interval reset: the worker releases it');
ok( $node->poll_query_until(
		'postgres', q{SELECT holds_expired = 4 FROM creditledger.stat_workers}),
	'and counts it');
is(lines(), 'G 40 10 950, HOT 25 0 975, L1 40 10 450, L2 25 0 475',
	'the lines are back where they were');
is(sql('SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'verify_chain() still returns no rows');

###########################################################################
# (d) temporary limits (临额): the worker starts a future-dated one at its
# valid_from and ends both it and one on the hot line when their windows
# pass; the hot line's slices are spread again each time.
###########################################################################

sql(q{
SELECT creditledger.set_temporary_limit(creditledger.credit_line_id('G'), 'tw-g', 300,
                                        valid_until => now() + interval '3 seconds',
                                        valid_from => now() + interval '1 second');
SELECT creditledger.set_temporary_limit(creditledger.credit_line_id('HOT'), 'tw-hot', 200,
                                        valid_until => now() + interval '2 seconds');
});
is( sql(q{SELECT string_agg(ref || ' ' || status, ', ' ORDER BY ref)
	        FROM creditledger.credit_temporary_limits}),
	'tw-g scheduled, tw-hot active', 'a future-dated one waits, the other is active at once');
is( sql(q{SELECT available = (SELECT sum(headroom) FROM creditledger.credit_line_slices s
	                              WHERE s.line_id = l.line_id)
	        FROM creditledger.credit_lines l WHERE code = 'HOT'}),
	't', 'the hot line\'s slices carry the raised headroom');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT status = 'active' FROM creditledger.credit_temporary_limits WHERE ref = 'tw-g'}),
	'the worker starts the future-dated one at its valid_from');
is( sql(q{SELECT concat_ws(' ', temporary_limit, available) FROM creditledger.credit_lines WHERE code = 'G'}),
	'300 1250', 'G counts it');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT bool_and(status = 'expired') FROM creditledger.credit_temporary_limits}),
	'the worker ends both when their windows pass');
is( sql(q{SELECT string_agg(concat_ws(' ', code, temporary_limit, available), ', ' ORDER BY code)
	        FROM creditledger.credit_lines WHERE code IN ('G', 'HOT')}),
	'G 0 950, HOT 0 975', 'both lines are back to their fixed limits');
is( sql(q{SELECT available = (SELECT sum(headroom) FROM creditledger.credit_line_slices s
	                              WHERE s.line_id = l.line_id)
	        FROM creditledger.credit_lines l WHERE code = 'HOT'}),
	't', 'the hot line\'s slices are spread again');
is( sql(q{SELECT string_agg(op || ' ' || ref, ', ' ORDER BY entry_id) FROM creditledger.credit_journal
	       WHERE op LIKE 'temp_limit%'}),
	'temp_limit tw-hot, temp_limit tw-g, temp_limit_end tw-hot, temp_limit_end tw-g',
	'each start and end is a credit journal entry');
is( sql(q{SELECT concat_ws(' ', holds_expired, errors) FROM creditledger.stat_workers}),
	'4 0', 'no worker errors, holds_expired unchanged');
is(sql('SELECT count(*) FROM creditledger.verify_chain()'),
	'0', 'verify_chain() returns no rows');
is( sql(q{SET client_min_messages = warning;
	      SELECT string_agg(rule || ' ' || status, ', ' ORDER BY rule)
	        FROM creditledger.bcp_run(ARRAY['credit_temporary_limits_consistent',
	                                        'credit_temporary_limits_on_time', 'credit_within_limit'], false)}),
	'credit_temporary_limits_consistent pass, credit_temporary_limits_on_time pass, credit_within_limit pass',
	'the temporary-limit rules pass');

$node->stop;
done_testing();
