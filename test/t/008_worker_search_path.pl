# Worker hijack (CVE-2018-1058): nothing planted in public runs as the worker.
#
# One node with the library preloaded, its worker serving database "ledger",
# flushing every 10 ms, sweeping and expiring holds every 200 ms.  "ledger"
# belongs to dbowner, an ordinary role, and everyone may create in its
# schema public (GRANT CREATE ON SCHEMA public TO PUBLIC, the pre-15
# default).  Before the worker connects, dbowner plants in public look-alikes
# of what the extension's SQL calls: nextval(text) and nextval(regclass),
# decode, repeat, generate_series, now, to_regprocedure, and the operators
# || (text, bigint), || (text, text) and = on bigint, integer, text, jsonb and
# "char".  Each one, should it ever run, logs a WARNING with a marker,
# records itself (who, and whether a superuser) in a world-writable table,
# and tries ALTER ROLE dbowner SUPERUSER, which only a superuser can do.
# dbowner then points search_path at public first: for the database (ALTER
# DATABASE), for himself (ALTER ROLE); a careless administrator does the
# same for the bootstrap superuser in that database (ALTER ROLE ... IN
# DATABASE, the setting that outranks the others) and, after the extension is
# created, in postgresql.conf (ALTER SYSTEM, SIGHUP).
#
# A superuser then creates the extension and a buffered_split account and
# posts a load into it, so the worker flushes it and spreads the buffer with
# internal transfers, sweeps it after a decrease leaves it drifted, and a
# decrease gathers; set_hot_mode converts it.  dbowner, granted the app and
# admin roles, does the same with his own search_path (public first).
#
# It proves that none of the planted objects ever ran (no marker in the log,
# none recorded, dbowner no superuser), that the worker had no error and
# drained the buffer, and that every chain verifies; and, at the end, that
# the planted objects were live all along (dbowner's own unqualified SQL
# runs them, as dbowner).  Before the worker pinned search_path and the C
# code qualified its SQL, the worker's first flush ran them as superuser.
#
# The test's own superuser sessions pin their search_path through PGOPTIONS,
# so that they never call a planted object themselves.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('search_path');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'ledger'
creditledger.flush_interval = 10
creditledger.sweep_interval = 200
creditledger.hold_expiry_interval = 200
});
$node->start;

my $pinned = '-c search_path=pg_catalog,pg_temp';
$ENV{PGOPTIONS} = $pinned;

my $marker = 'CREDITLEDGER-HIJACK';

# su: run SQL in "ledger" as the bootstrap superuser (search_path pinned).
sub su
{
	my ($sql) = @_;
	return $node->safe_psql('ledger', $sql);
}

# as_owner: run SQL in "ledger" as dbowner with his own settings (search_path
# public, pg_catalog from ALTER ROLE), as an attacker's session would.
sub as_owner
{
	my ($sql) = @_;
	local $ENV{PGOPTIONS} = '';
	return $node->safe_psql('ledger', $sql, extra_params => [ '-U', 'dbowner' ]);
}

# wait_drained: wait until the worker has emptied posting_buffer.
sub wait_drained
{
	my ($what) = @_;
	ok( $node->poll_query_until(
			'ledger', 'SELECT count(*) = 0 FROM creditledger.posting_buffer'),
		"the worker drains the buffer: $what");
}

# wait_internal: wait until an internal transfer of a kind (spread, sweep,
# gather, hot-mode) exists.
sub wait_internal
{
	my ($kind, $what) = @_;
	ok( $node->poll_query_until(
			'ledger', qq{SELECT count(*) > 0 FROM creditledger.transfers
			   WHERE voucher LIKE 'creditledger:$kind:%'}),
		$what);
}

# planted_runs: which planted objects ran as whom (distinct), one line.
sub planted_runs
{
	return su(
		q{SELECT string_agg(r, '; ' ORDER BY r)
		    FROM (SELECT DISTINCT format('%s as %s, superuser %s', what, role, superuser) AS r
		            FROM public.hijack_log) runs});
}

###########################################################################
# The attacker's database, plants and settings
###########################################################################

$node->safe_psql(
	'postgres', q{
CREATE ROLE dbowner LOGIN;
CREATE DATABASE ledger OWNER dbowner;
});
su('GRANT CREATE ON SCHEMA public TO PUBLIC');

# hijack_note records a run of a planted object; plant() below writes one
# planted function (and operator) that calls it and then does what the real
# one does, so a hijacked statement would still succeed, unnoticed.
my $plants = q{
CREATE TABLE public.hijack_log (what text, role name, superuser boolean);
GRANT SELECT, INSERT ON public.hijack_log TO PUBLIC;

CREATE FUNCTION public.hijack_note(what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- the marker is put together here: the statement log shows this text
    RAISE WARNING '%-% % ran as %', 'CREDITLEDGER', 'HIJACK', what, current_user;
    BEGIN
        INSERT INTO public.hijack_log
        SELECT what, current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING '%-% % could not record itself: %', 'CREDITLEDGER', 'HIJACK',
            what, SQLERRM;
    END;
    BEGIN
        ALTER ROLE dbowner SUPERUSER;
        RAISE WARNING '%-% % made dbowner a superuser', 'CREDITLEDGER', 'HIJACK', what;
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
END $$;
};

# plant: a function public.NAME(ARGS) that notes itself and returns BODY;
# with OP, also the operator public.OP on its two arguments.
my $n = 0;

sub plant
{
	my ($name, $args, $returns, $body, $op) = @_;
	my $fn = $op ? 'evil_op_' . ++$n : $name;
	my $sig = join(', ', map { $_->[1] } @$args);
	my $params = join(', ', map { "$_->[0] $_->[1]" } @$args);
	my $ret = $returns =~ /^SETOF/ ? "RETURN QUERY $body" : "RETURN $body";
	$plants .= qq{
CREATE FUNCTION public.$fn($params) RETURNS $returns
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN
    PERFORM public.hijack_note('public.' || '@{[ $op ? "$op($sig)" : "$name($sig)" ]}');
    $ret;
END \$\$;
};
	$plants .= qq{CREATE OPERATOR public.$op (LEFTARG = $args->[0][1],
    RIGHTARG = $args->[1][1], FUNCTION = public.$fn);
} if $op;
	return;
}

plant('nextval', [ [ 'a', 'text' ] ], 'bigint', 'nextval(a::regclass)');
plant('nextval', [ [ 'a', 'regclass' ] ], 'bigint', 'nextval(a)');
plant('decode', [ [ 'a', 'text' ], [ 'b', 'text' ] ], 'bytea', 'decode(a, b)');
plant('repeat', [ [ 'a', 'text' ], [ 'b', 'integer' ] ], 'text', 'repeat(a, b)');
plant('generate_series', [ [ 'a', 'integer' ], [ 'b', 'integer' ] ],
	'SETOF integer', 'SELECT generate_series(a, b)');
plant('now', [], 'timestamptz', 'now()');
plant('to_regprocedure', [ [ 'a', 'text' ] ], 'regprocedure', 'to_regprocedure(a)');
plant(undef, [ [ 'a', 'text' ], [ 'b', 'bigint' ] ], 'text', 'a || b', '||');
plant(undef, [ [ 'a', 'text' ], [ 'b', 'text' ] ], 'text', 'a || b', '||');
for my $type ('bigint', 'integer', 'text', 'jsonb', '"char"')
{
	plant(undef, [ [ 'a', $type ], [ 'b', $type ] ], 'boolean', 'a = b', '=');
}
# what the 0.3 periodic tasks compare and add (expiries, temporary limits,
# batched hot lines): a due time, an amount
for my $op ('<', '<=', '>', '>=')
{
	plant(undef, [ [ 'a', 'timestamptz' ], [ 'b', 'timestamptz' ] ], 'boolean', "a $op b", $op);
}
plant(undef, [ [ 'a', 'bigint' ], [ 'b', 'bigint' ] ], 'bigint', 'a + b', '+');
plant(undef, [ [ 'a', 'bigint' ], [ 'b', 'bigint' ] ], 'bigint', 'a - b', '-');
plant('sum', [ [ 'a', 'bigint' ] ], 'bigint', 'a');
$plants .= q{
ALTER DATABASE ledger SET search_path = public, pg_catalog;
ALTER ROLE dbowner SET search_path = public, pg_catalog;
};
as_owner($plants);

# The careless administrator: the bootstrap superuser (the worker's role)
# gets the same path in "ledger", the most specific setting there is.
su('ALTER ROLE CURRENT_USER IN DATABASE ledger SET search_path = public, pg_catalog');

# The settings are live: a session of each role that brings no search_path
# of its own gets public first.
{
	local $ENV{PGOPTIONS} = '';
	is($node->safe_psql('ledger', 'SHOW search_path'),
		'public, pg_catalog', 'the superuser\'s sessions in ledger get public first');
}
is(as_owner('SHOW search_path'), 'public, pg_catalog',
	'dbowner\'s sessions get public first');

# The worker connects again, now with those settings in place.
$node->restart;

###########################################################################
# Superuser load: flush, spread, sweep, gather, set_hot_mode
###########################################################################

su( q{
CREATE EXTENSION creditledger;
SELECT creditledger.setup_roles();
GRANT creditledger_app, creditledger_admin TO dbowner;
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('plain', 'CNY');
SELECT creditledger.open_account('hot', 'CNY', hot_mode => 'buffered_split', shards => 4);
});
my %id = map { $_ => su("SELECT creditledger.account_id('$_')") } qw(bank plain hot);

# A reload now brings the same path from postgresql.conf (SIGHUP).
su( q{ALTER SYSTEM SET search_path = 'public, pg_catalog'; SELECT pg_reload_conf()});

ok( $node->poll_query_until(
		'ledger', q{SELECT state NOT IN ('waiting for extension', 'starting')
		   FROM creditledger.stat_workers WHERE database = 'ledger'}),
	'the worker found the extension');

su( qq{SELECT creditledger.transfer(format('su-%s', g), $id{bank}, $id{hot}, 10)
         FROM generate_series(1, 200) g});
wait_drained('the superuser\'s increases');
wait_internal('spread', 'the worker spread the flushed buffer to the sub-accounts');

# One decrease served by one sub-account leaves the others fuller: the
# sweep evens them out with internal transfers.
su("SELECT creditledger.transfer('su-drift', $id{hot}, $id{plain}, 400)");
wait_internal('sweep', 'the worker swept the drifted sub-accounts');

# A decrease larger than any sub-account holds gathers from the siblings.
su("SELECT creditledger.transfer('su-gather', $id{hot}, $id{plain}, 1000)");
wait_internal('gather', 'a decrease gathered from the sibling sub-accounts');

su("SELECT creditledger.set_hot_mode($id{hot}, 'buffered_split', 8)");
wait_internal('hot-mode', 'set_hot_mode moved the balance between chains');

###########################################################################
# dbowner's load, with his own search_path
###########################################################################

as_owner(
	qq{SELECT creditledger.transfer(pg_catalog.format('own-%s', g), $id{bank}, $id{hot}, 10)
         FROM pg_catalog.generate_series(1, 200) AS g});
wait_drained('dbowner\'s increases');
as_owner("SELECT creditledger.transfer('own-drift', $id{hot}, $id{plain}, 300)");
as_owner("SELECT creditledger.transfer('own-gather', $id{hot}, $id{plain}, 1200)");
as_owner("SELECT creditledger.set_hot_mode($id{hot}, 'buffered_split', 4)");
as_owner(
	qq{SELECT creditledger.transfer(pg_catalog.format('own2-%s', g), $id{bank}, $id{hot}, 10)
         FROM pg_catalog.generate_series(1, 50) AS g});
as_owner("SELECT creditledger.flush($id{hot})");
as_owner(
	qq{SELECT creditledger.transfer(pg_catalog.format('own3-%s', g), $id{bank}, $id{hot}, 10)
         FROM pg_catalog.generate_series(1, 50) AS g});
wait_drained('dbowner\'s later increases');

# Let a few more sweeps and hold expiries run over the final state.
my $cycles = su(q{SELECT cycles FROM creditledger.stat_workers WHERE database = 'ledger'});
$node->poll_query_until('ledger',
	"SELECT cycles >= $cycles + 40 FROM creditledger.stat_workers WHERE database = 'ledger'");

###########################################################################
# The 0.3 periodic tasks: due pending transfers, funds holds, credit holds
# and a pending disbursement expire, a temporary limit starts and ends, a
# batched hot line's pending slice changes are journaled, all by the worker
###########################################################################

su( qq{
SELECT creditledger.open_account('recv', 'CNY', 'debit', 0);
SELECT creditledger.create_credit_line('loan', 'CNY', 1000);
SELECT creditledger.set_credit_line_account(creditledger.credit_line_id('loan'),
                                            creditledger.account_id('recv'));
SELECT creditledger.create_credit_line('batched', 'CNY', 1000);
SELECT creditledger.set_credit_line_hot(creditledger.credit_line_id('batched'), 4, 'batched');
SELECT creditledger.transfer_pending('due-pending', $id{plain}, $id{bank}, 5,
                                     pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 second');
SELECT creditledger.hold_funds('due-hold', $id{plain}, 5, 'soon',
                               pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 second');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('loan'), 10, 'due-credit-hold',
                                  pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 second');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('loan'), 20, 'due-disb-hold',
                                  pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 second');
SELECT creditledger.credit_disburse('due-disb-hold', 'due-disb', $id{plain}, pending => true);
SELECT creditledger.set_temporary_limit(creditledger.credit_line_id('loan'), 'due-tl', 100,
    pg_catalog.now() OPERATOR(pg_catalog.+) interval '2 seconds',
    pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 second');
SELECT creditledger.credit_freeze(creditledger.credit_line_id('batched'), 7, 'batched-hold');
});
ok( $node->poll_query_until(
		'ledger', q{SELECT (SELECT pg_catalog.count(*) FROM creditledger.ledger_pending_transfers
		             WHERE voucher OPERATOR(pg_catalog.=) ANY (ARRAY['due-pending', 'due-disb'])
		               AND status OPERATOR(pg_catalog.=) 'expired') OPERATOR(pg_catalog.=) 2
		        AND EXISTS (SELECT FROM creditledger.ledger_funds_holds
		             WHERE ref OPERATOR(pg_catalog.=) 'due-hold'
		               AND status OPERATOR(pg_catalog.=) 'expired')
		        AND EXISTS (SELECT FROM creditledger.ledger_credit_holds
		             WHERE ref OPERATOR(pg_catalog.=) 'due-credit-hold'
		               AND status OPERATOR(pg_catalog.=) 'expired')
		        AND EXISTS (SELECT FROM creditledger.ledger_credit_temporary_limits
		             WHERE ref OPERATOR(pg_catalog.=) 'due-tl'
		               AND status OPERATOR(pg_catalog.=) 'expired')
		        AND NOT EXISTS (SELECT FROM creditledger.credit_line_slices
		             WHERE pending_since IS NOT NULL)}),
	'the worker expired the due pending transfers (a disbursement in transit included), '
	  . 'funds hold and credit hold, started and ended the temporary limit and settled '
	  . 'the batched line');
is( su(
		q{SELECT pg_catalog.string_agg(rule, ',') FROM creditledger.bcp_run(record => false)
		   WHERE status OPERATOR(pg_catalog.<>) 'pass'}),
	'', 'every built-in rule passes after the tasks');

###########################################################################
# Nothing planted ever ran
###########################################################################

my $log = slurp_file($node->logfile);
my @hits = ($log =~ /^.*\Q$marker\E.*$/mg);
is(scalar(@hits), 0, 'no planted object ran (no marker in the server log)')
  or diag(join("\n", @hits[ 0 .. ($#hits < 4 ? $#hits : 4) ]));
is(su('SELECT count(*) FROM public.hijack_log'), '0',
	'no planted object ran (none recorded itself)')
  or diag(planted_runs());
is(su(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}),
	'f', 'dbowner is not a superuser');
is( su(q{SELECT errors || ' ' || coalesce(last_error, '') FROM creditledger.stat_workers
	       WHERE database = 'ledger'}),
	'0 ', 'the worker had no error');
is(su('SELECT count(*) FROM creditledger.posting_buffer'), '0',
	'the buffer is empty');
is(su('SELECT count(*) FROM creditledger.verify_chain()'), '0',
	'verify_chain: every chain intact');
is( su(
		qq{SELECT balance FROM creditledger.accounts WHERE account_id = $id{hot}}),
	200 * 10 - 400 - 1000 + 200 * 10 - 300 - 1200 + 100 * 10,
	'the buffered_split account holds what was posted');

###########################################################################
# ... though the planted objects were live all along
###########################################################################

is( as_owner(
		q{CREATE SEQUENCE public.probe_seq;
		  SELECT 'x' || 1::bigint, nextval('public.probe_seq')}),
	'x1|1',
	'dbowner\'s own unqualified SQL still works with the plants in place');
is( planted_runs(),
	'public.nextval(text) as dbowner, superuser f; '
	  . 'public.||(text, bigint) as dbowner, superuser f',
	'... and runs the planted || and nextval, as dbowner, not as a superuser');
$log = slurp_file($node->logfile);
@hits = ($log =~ /^.*\Q$marker\E.*$/mg);
is(scalar(@hits), 2, '... which the server log shows with the marker');

$node->stop;
done_testing();
