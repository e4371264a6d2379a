# Randomized model test: concurrent sessions against a reference model.
#
# Bounded, seeded and reproducible: MODEL_SEED (default: from the clock)
# seeds every worker with srand(seed + worker index), and every operation
# draws the same number of random numbers whatever the outcome, so a seed
# always yields the same operation sequences (the interleaving, and with it
# which refusals happen on shared accounts and lines, varies).  The seed is
# printed at the start and with every failure; MODEL_WORKERS (default 6)
# and MODEL_OPS (operations per worker and phase, default 500) size the run;
# MODEL_TOLERATE (e.g. 40P01) accepts the given SQLSTATEs as refusals, to
# look past a known bug while it is being fixed.  PG_TEST_NOCLEAN=1 keeps
# the workers' logs (tmp_check/t_005_model_model_data/model/w*.log).
#
# One node, creditledger preloaded, its worker serving "postgres" (flushes,
# sweeps, hold expiry every 300 ms), fsync on.  Setup: a funding account
# without a floor, customer accounts (one with an overdraft allowance),
# hot accounts of every hot_mode, a USD pair, one private account per worker
# (hot modes in turn), a credit-line DAG (a hot root, group and product
# lines, a diamond, a non-revolving line, a tight line) and one private line
# per worker (every other one hot).
#
# Workers (forked, one DBD::Pg session each) run random operations, valid
# and invalid: transfers (overdrawing, zero, self, unknown account, currency
# mismatch), post_entry (multi-currency, unbalanced, malformed), reversals
# (default and named vouchers, twice, of a reversal, of nothing), hot-account
# postings, credit_freeze (some expiring after 0.3 to 2 s), credit_unfreeze,
# credit_use (partial, release_rest), credit_use_direct, credit_return,
# money holds (transfer_pending, some expiring after 0.3 to 2 s;
# transfer_post, partial or all, final or not; transfer_void; hold_funds,
# some expiring; release_funds, partial or all; expire_pending(); and
# invalid ones: post/void/release of an unknown record, expires_at in the
# past, zero or negative amounts, self, unknown account, currency
# mismatch), account blocks (set_account_block of the worker's private
# account to none, debits, credits or all, in any order; an unknown block
# or account), lending on a line of the worker's own with its receivable
# account (credit_disburse_direct into the private account: LD002 over the
# line's limit, LD012 when the account refuses credits; credit_repay from
# it: LD008 over the outstanding, LD012, LD001), temporary limits (临额)
# on the private line (set_temporary_limit active at once, or
# end_temporary_limit of an active one: the line's freezes and direct
# uses are then predicted from its limit plus its active temporary
# limits), and replays of acknowledged calls (same id) and their
# references with another payload (LD004).  Every outcome must be one the
# contract allows; where the worker alone can know the state (its private
# account and line, its own holds, drawdowns, pending transfers and funds
# holds) the outcome is predicted exactly: LD001 when a posting, pending
# transfer or funds hold would take the private account's available
# balance (balance - held) below its floor, LD013 for a post or void of a
# posted, voided, expired or unknown pending transfer or a post or release
# of more than remains, LD012 for a transfer, entry, reversal, pending
# transfer or post with a leg on a side the private account's block
# refuses (checked before the floor, so LD012 wins over LD001; funds holds,
# voids and releases are never refused for a block); outcomes that depend
# on time (an expiring hold or reservation) are checked against the client
# clock.  Reservations on the
# private account never expire, so its available balance stays exact.
# Every call is logged (one JSON line, flushed) with its result.
#
# Phase 1: operations, all workers stop, check.  Phase 2: operations with a
# kill -9 of the postmaster after about half of them; a call cut off by the
# crash is reissued with the same reference and arguments until the server
# answers (a replay returns the first result if it committed, else the call
# applies now), so every outcome is certain.  Check again.
#
# Check: from the acknowledged calls only, the parent computes every
# account's balance, every hold (remaining, used, released, status), every
# drawdown (outstanding, returned), every line's frozen/used/returned (own
# and descendants', a diamond counted once), every pending transfer
# (posted, remaining, status: an expiring one left pending is expired by
# then), every funds hold (released, remaining, status), each account's
# held, available and block (the last acknowledged one; its hold chain has
# one 'block' entry per acknowledged change, none for a call that set the
# block it already had or was reissued after the crash), the journal's net amount per
# transfer and account, the credit journal's deltas per operation and node,
# and which references exist (acknowledged ones with their ids; refused ones
# must have left nothing); the database must agree exactly.  verify_chain()
# returns no rows and every BCP rule passes.

use strict;
use warnings;

use DBI;
use JSON::PP;
use List::Util qw(min sum0);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{MODEL_SEED} // int(time() * 1000) % 2_000_000_000;
die "MODEL_SEED must be a non-negative integer\n" unless $seed =~ /^\d+$/;
my $NW = $ENV{MODEL_WORKERS} // 6;
my $K  = $ENV{MODEL_OPS}     // 500;
# MODEL_TOLERATE: SQLSTATEs (comma-separated) to accept as a refusal of any
# call, to look past a known bug while it is being fixed; empty by default.
my @tolerate = grep { $_ ne '' } split /,/, $ENV{MODEL_TOLERATE} // '';
diag("seed=$seed (rerun with MODEL_SEED=$seed; $NW workers, $K operations each per phase"
	  . (@tolerate ? "; tolerating @tolerate" : '') . ')');

# check(ok, name, detail): a test that names the seed when it fails.
sub check
{
	my ($ok, $name, $detail) = @_;
	ok($ok, $name)
	  or diag("seed=$seed: $name" . (defined $detail && $detail ne '' ? "\n$detail" : ''));
	return $ok;
}

my $json = JSON::PP->new->canonical;
my $parent = $$;

END
{
	# (forked workers leave with POSIX::_exit and never get here)
	diag("seed=$seed: rerun with MODEL_SEED=$seed")
	  if $$ == $parent && ($? || !PostgreSQL::Test::Utils::all_tests_passing());
}

###########################################################################
# The node
###########################################################################

my $node = PostgreSQL::Test::Cluster->new('model');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
creditledger.hold_expiry_interval = '300ms'
creditledger.flush_interval = 20
creditledger.sweep_interval = 1000
fsync = on
restart_after_crash = on
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION creditledger');

my $dsn = 'dbi:Pg:dbname=postgres;host=' . $node->host . ';port=' . $node->port;

sub db_connect
{
	my ($appname) = @_;
	my $dbh = DBI->connect("$dsn;application_name=$appname", '', '',
		{ AutoCommit => 1, RaiseError => 0, PrintError => 0, PrintWarn => 0 });
	return undef unless $dbh;
	unless ($dbh->do("SET client_min_messages = warning")
		&& $dbh->do("SET statement_timeout = '60s'"))
	{
		return undef;
	}
	return $dbh;
}

# q1/qall: the parent's queries (die on error: the parent's own SQL).
sub q1
{
	my ($dbh, $sql, @b) = @_;
	my $r = $dbh->selectrow_arrayref($sql, undef, @b);
	die "query failed: $sql: " . $dbh->errstr . "\n" unless $r;
	return $r->[0];
}

sub qall
{
	my ($dbh, $sql, @b) = @_;
	my $r = $dbh->selectall_arrayref($sql, undef, @b);
	die "query failed: $sql: " . $dbh->errstr . "\n" unless $r;
	return $r;
}

###########################################################################
# Setup: accounts and credit lines
###########################################################################

my @modes = qw(none buffered split buffered_split);

# code => [currency, normal_side, min_balance, hot_mode, shards, initial]
my %acct_def = (
	'm:fund'      => [ 'CNY', 'debit',  undef, 'none',           8, 0 ],
	'm:usd:fund'  => [ 'USD', 'debit',  undef, 'none',           8, 0 ],
	'm:usd:c'     => [ 'USD', 'credit', 0,     'none',           8, 3000 ],
	'm:c1'        => [ 'CNY', 'credit', 0,     'none',           8, 4000 ],
	'm:c2'        => [ 'CNY', 'credit', 0,     'none',           8, 4000 ],
	'm:c3'        => [ 'CNY', 'credit', 0,     'none',           8, 3000 ],
	'm:c4'        => [ 'CNY', 'credit', 0,     'none',           8, 2000 ],
	'm:c5'        => [ 'CNY', 'credit', 0,     'none',           8, 1000 ],
	'm:c6'        => [ 'CNY', 'credit', -500,  'none',           8, 500 ],
	'm:hot:buf'   => [ 'CNY', 'credit', 0,     'buffered',       8, 5000 ],
	'm:hot:split' => [ 'CNY', 'credit', 0,     'split',          4, 8000 ],
	'm:hot:bs'    => [ 'CNY', 'credit', 0,     'buffered_split', 3, 6000 ],);
for my $w (1 .. $NW)
{
	$acct_def{"m:w$w"} = [ 'CNY', 'credit', 0, $modes[ $w % 4 ], 3, 2000 ];
	# the receivable account of the worker's lending line (cl:lend:wN)
	$acct_def{"m:recv:w$w"} = [ 'CNY', 'debit', 0, 'none', 8, 0 ];
}

# code => [limit, [parent codes], revolving, hot slices]
my @line_order = qw(cl:bank cl:group cl:product cl:c1 cl:c2 cl:c3 cl:tight);
my %line_def = (
	'cl:bank'    => [ 16000, [],                          1, 4 ],
	'cl:group'   => [ 9000,  ['cl:bank'],                 1, 0 ],
	'cl:product' => [ 8000,  ['cl:bank'],                 1, 0 ],
	'cl:c1'      => [ 6000,  [ 'cl:group', 'cl:product' ], 1, 0 ],
	'cl:c2'      => [ 4000,  ['cl:group'],                1, 0 ],
	'cl:c3'      => [ 3000,  ['cl:product'],              0, 0 ],
	'cl:tight'   => [ 900,   ['cl:group'],                1, 0 ],);
for my $w (1 .. $NW)
{
	push @line_order, "cl:w$w";
	$line_def{"cl:w$w"} = [ 3000, [], 1, $w % 2 ? 3 : 0 ];
	# a lending line per worker: disbursements into and repayments from the
	# worker's private account (lending.c), its receivable m:recv:wN
	push @line_order, "cl:lend:w$w";
	$line_def{"cl:lend:w$w"} = [ 5000, [], 1, 0 ];
}

my (%acct, %acct_by_id, %line, %line_by_id);
{
	my $dbh = db_connect('model-setup') or die "cannot connect: $DBI::errstr";
	for my $code (sort keys %acct_def)
	{
		my ($cur, $side, $min, $hot, $shards) = @{ $acct_def{$code} };
		my $id = q1($dbh,
			'SELECT creditledger.open_account($1, $2, $3, $4::bigint, $5, $6::int)',
			$code, $cur, $side, $min, $hot, $shards);
		$acct{$code} = $id;
		$acct_by_id{$id} = {
			id       => $id,
			code     => $code,
			currency => $cur,
			side     => $side,
			min      => $min,
			hot      => $hot
		};
	}
	for my $code (sort keys %acct_def)
	{
		my $init = $acct_def{$code}[5];
		next unless $init;
		my $fund = $acct_def{$code}[0] eq 'USD' ? $acct{'m:usd:fund'} : $acct{'m:fund'};
		q1($dbh, 'SELECT creditledger.transfer($1, $2::bigint, $3::bigint, $4::bigint)',
			"setup-fund-$code", $fund, $acct{$code}, $init);
	}
	for my $code (@line_order)
	{
		my ($limit, $parents, $revolving, $hot) = @{ $line_def{$code} };
		my @pids = map { $line{$_} } @$parents;
		my $id = q1($dbh,
			'SELECT creditledger.create_credit_line($1, $2, $3::bigint, $4::bigint[], $5::boolean)',
			$code, 'CNY', $limit, '{' . join(',', @pids) . '}', $revolving ? 't' : 'f');
		$line{$code} = $id;
		$line_by_id{$id} = {
			id      => $id,
			code    => $code,
			parents => \@pids,
			private => $code =~ /^cl:w/ ? 1 : 0
		};
		# the bank's slices journaled in batches (the default), the
		# workers' hot lines one slice entry per change
		$line_by_id{$id}{batched} = $hot && $code eq 'cl:bank' ? 1 : 0;
		q1($dbh, 'SELECT creditledger.set_credit_line_hot($1::bigint, $2::int, $3::text)', $id, $hot,
			$line_by_id{$id}{batched} ? 'batched' : 'per_slice')
		  if $hot;
	}
	for my $w (1 .. $NW)
	{
		q1($dbh, 'SELECT creditledger.set_credit_line_account($1::bigint, $2::bigint)',
			$line{"cl:lend:w$w"}, $acct{"m:recv:w$w"});
	}
	q1($dbh, 'SELECT creditledger.flush()');
	$dbh->disconnect;
}

# The line and every ancestor, each once (the nodes a credit op touches).
sub nodes_of
{
	my ($id) = @_;
	my %seen;
	my @todo = ($id);
	while (@todo)
	{
		my $x = shift @todo;
		next if $seen{$x}++;
		push @todo, @{ $line_by_id{$x}{parents} };
	}
	return sort { $a <=> $b } keys %seen;
}

# The initial balances: what setup funded (checked against the node below).
my %initial;
for my $code (keys %acct_def)
{
	my $id = $acct{$code};
	$initial{$id} += $acct_def{$code}[5];
	my $fund = $acct_def{$code}[0] eq 'USD' ? $acct{'m:usd:fund'} : $acct{'m:fund'};
	$initial{$fund} += $acct_def{$code}[5];    # debit-normal: debited, grows
}

###########################################################################
# Workers
###########################################################################

my $dir = $node->basedir . '/model';
mkdir $dir or die "mkdir $dir: $!";

sub worker_main
{
	my ($W) = @_;
	srand($seed + $W);
	open(my $log, '>>', "$dir/w$W.log") or die "open log: $!";
	$log->autoflush(1);

	my $phase = 0;
	my $opno  = 0;
	my $dbh;
	my $fails = 0;

	my $wlog = sub { print $log $json->encode($_[0]), "\n"; };
	my $fail = sub {
		my ($msg) = @_;
		$fails++;
		$wlog->({ ev => 'FAIL', p => $phase, n => $opno, msg => $msg });
	};

	# accounts and lines the worker uses
	my $fund   = $acct{'m:fund'};
	my $ufund  = $acct{'m:usd:fund'};
	my $uc     = $acct{'m:usd:c'};
	my @cust   = map { $acct{"m:c$_"} } 1 .. 6;
	my @hot    = map { $acct{$_} } qw(m:hot:buf m:hot:split m:hot:bs);
	my $priv   = $acct{"m:w$W"};
	my $pline  = $line{"cl:w$W"};
	my $plimit = $line_def{"cl:w$W"}[0];
	my @shared_lines = map { $line{$_} }
	  qw(cl:c1 cl:c1 cl:c2 cl:c2 cl:c3 cl:tight cl:tight cl:group cl:product cl:bank);

	# the worker's model: its private account exactly; its own holds,
	# drawdowns, postings and acknowledged calls
	my $pbal = $acct_def{"m:w$W"}[5];
	my $pheld = 0;    # the private account's open reservations
	my $pblock = 'none';    # the private account's block
	my (@posted, @reversals, %hold, @hold_refs, %draw, @draw_refs, @acked);
	my (%pend, @pend_refs, %fhold, @fhold_refs);
	my $lline  = $line{"cl:lend:w$W"};
	my $lrecv  = $acct{"m:recv:w$W"};
	my $llimit = $line_def{"cl:lend:w$W"}[0];
	my (%ldraw, @ldraw_refs);    # the lending line's drawdowns (disbursements)

	my $connect = sub {
		my $deadline = time + 180;
		until ($dbh = db_connect("model-w$W"))
		{
			POSIX::_exit(3) if getppid() != $parent;
			die "worker $W cannot connect: $DBI::errstr\n" if time > $deadline;
			sleep 0.2;
		}
	};

	my $conn_lost = sub {
		my ($state, $err) = @_;
		return 1 if $state eq '' || $state =~ /^(08|57P0|S8)/;
		return 1
		  if $err =~ /server closed the connection|terminating connection|no connection to the server|could not (send|receive) data|connection to server .* failed/i;
		return 0;
	};

	# run: one call, reissued unchanged after a lost connection until the
	# server answers.
	my ($last_call, $picked);
	my $run = sub {
		my ($sql, @binds) = @_;
		$last_call = { fn => ($sql =~ /creditledger\.(\w+)/)[0], args => [@binds] };
		my $t_first = time;
		my $retries = 0;
		for (;;)
		{
			$connect->() unless $dbh;
			my $row    = $dbh->selectrow_arrayref($sql, undef, @binds);
			my $t_done = time;
			if ($row)
			{
				return {
					ok      => 1,
					val     => $row->[0],
					t_first => $t_first,
					t_done  => $t_done,
					retries => $retries
				};
			}
			my ($state, $err) = ($dbh->state // '', $dbh->errstr // '');
			if ($conn_lost->($state, $err))
			{
				$retries++;
				$wlog->({ ev => 'conn_lost', p => $phase, n => $opno, state => $state, err => $err });
				undef $dbh;
				die "worker $W: call keeps failing: $err\n" if $retries > 200;
				sleep 0.1 * min($retries, 10);
				next;
			}
			return {
				ok      => 0,
				state   => $state,
				err     => $err,
				t_first => $t_first,
				t_done  => $t_done,
				retries => $retries
			};
		}
	};

	# outcome: 'ok' or the SQLSTATE; a failure unless allowed.
	my $outcome = sub {
		my ($what, $res, @allowed) = @_;
		my $got = $res->{ok} ? 'ok' : $res->{state};
		unless (grep { $_ eq $got } @allowed, @tolerate)
		{
			$fail->("$what: got $got"
				  . ($res->{ok} ? " (value $res->{val})" : " ($res->{err})")
				  . ', allowed: ' . join('|', @allowed));
		}
		return $got;
	};

	# record: the log line of a call; acknowledged calls with an effect
	# carry it (eff) for the parent's model.
	my $record = sub {
		my (%l) = @_;
		my $res = delete $l{res};
		$l{p}    = $phase;
		$l{n}    = $opno;
		$l{pick} = $picked;
		$l{fn}   = $last_call->{fn};
		$l{args} = $last_call->{args};
		$l{ok} = $res->{ok} ? 1 : 0;
		if ($res->{ok}) { $l{id} = $res->{val}; }
		else            { $l{state} = $res->{state}; delete $l{eff}; }
		$l{retries} = $res->{retries} if $res->{retries};
		$wlog->(\%l);
	};

	my $signed = sub {
		my ($leg) = @_;
		my $a = $acct_by_id{ $leg->[0] };
		return (($leg->[1] eq 'C') == ($a->{side} eq 'credit') ? 1 : -1) * $leg->[2];
	};

	# predict: the outcomes a posting may have: LD001 if it overdraws the
	# private account, ok if it decreases no account with a floor that
	# others share, either otherwise.
	# blocked(account, side): whether the private account's block refuses a
	# leg on that side (LD012, checked before any floor)
	my $blocked = sub {
		my ($a, $side) = @_;
		return 0 unless $a == $priv;
		return $pblock eq 'all' || ($pblock eq 'debits' && $side eq 'D') || ($pblock eq 'credits' && $side eq 'C');
	};
	my $predict = sub {
		my ($legs) = @_;
		return ('LD012') if grep { $blocked->($_->[0], $_->[1]) } @$legs;
		my %net;
		$net{ $_->[0] } += $signed->($_) for @$legs;
		my ($short, $unsure) = (0, 0);
		for my $a (keys %net)
		{
			next if $net{$a} >= 0 || !defined $acct_by_id{$a}{min};
			if ($a == $priv) { $short = 1 if $pbal - $pheld + $net{$a} < $acct_by_id{$a}{min}; }
			else             { $unsure = 1; }
		}
		return ('LD001') if $short;
		return ('ok', 'LD001') if $unsure;
		return ('ok');
	};
	my $apply_private = sub {
		my ($legs) = @_;
		for (@$legs) { $pbal += $signed->($_) if $_->[0] == $priv; }
	};

	# the private line's temporary limits (临额): ref => {amount, active}
	my (%ptemp, @ptemp_refs);
	my $pline_avail = sub {
		my $u = 0;
		$u += $hold{$_}{rem} for grep { $hold{$_}{line} == $pline } @hold_refs;
		$u += $draw{$_}{out} for grep { $draw{$_}{line} == $pline } @draw_refs;
		$u -= $ptemp{$_}{amount} for grep { $ptemp{$_}{active} } @ptemp_refs;
		return $plimit - $u;
	};

	my $ref;    # the current operation's reference
	my $newref = sub { return "w${W}p${phase}n$opno" . ($_[0] // ''); };
	my $pick = sub { my ($rnd, @l) = @_; return $l[ int($rnd->() * @l) ]; };

	###################################################################
	# Operations.  Each gets $rnd, a source of random numbers in [0, 1).
	###################################################################

	my $posting = sub {
		my ($kind, $what, $sql, $binds, $legs, $cbinds, %extra) = @_;
		my @allowed = $predict->($legs);
		push @allowed, @{ $extra{also} } if $extra{also};
		my $res = $run->($sql, @$binds);
		my $got = $outcome->($what, $res, @allowed);
		my $r = $extra{ref} // $binds->[0];
		my %eff = (kind => $kind, legs => $legs);
		$eff{reverses} = $extra{reverses} if $extra{reverses};
		$record->(op => $kind, ref => $r, res => $res, eff => \%eff, fresh => 1);
		if ($res->{ok})
		{
			$apply_private->($legs);
			push @acked, { ref => $r, sql => $sql, binds => $binds, id => $res->{val}, cbinds => $cbinds, what => $what };
		}
		return $res;
	};

	my $transfer = sub {
		my ($rnd, $deb, $cred, $amt) = @_;
		my $memo = $rnd->() < 0.3 ? 'memo ' . int($rnd->() * 3) : undef;
		my $r = $newref->();
		my $res = $posting->(
			'transfer', "transfer $r $deb->$cred $amt",
			'SELECT creditledger.transfer($1::text, $2::bigint, $3::bigint, $4::bigint, $5::text)',
			[ $r, $deb, $cred, $amt, $memo ],
			[ [ $deb, 'D', $amt ], [ $cred, 'C', $amt ] ],
			[ $r, $deb, $cred, $amt + 1, $memo ]);
		if ($res->{ok})
		{
			push @posted, { ref => $r, id => $res->{val}, legs => [ [ $deb, 'D', $amt ], [ $cred, 'C', $amt ] ] };
		}
	};

	my %ops;
	$ops{transfer_shared} = sub {
		my ($rnd) = @_;
		my $x = $rnd->();
		my $amt = 1 + int($rnd->() * 1500);
		my $c1 = $pick->($rnd, @cust);
		my $c2 = $pick->($rnd, grep { $_ != $c1 } @cust);
		if    ($x < 0.4) { $transfer->($rnd, $fund, $c1, $amt); }
		elsif ($x < 0.7) { $transfer->($rnd, $c1, $fund, $amt); }
		else             { $transfer->($rnd, $c1, $c2, $amt); }
	};
	$ops{transfer_hot} = sub {
		my ($rnd) = @_;
		my $h = $pick->($rnd, @hot);
		my $o = $pick->($rnd, $fund, @cust);
		my $amt = 1 + int($rnd->() * 1200);
		if ($rnd->() < 0.5) { $transfer->($rnd, $o, $h, $amt); }
		else                { $transfer->($rnd, $h, $o, $amt); }
	};
	$ops{transfer_private} = sub {
		my ($rnd) = @_;
		my $o = $pick->($rnd, $fund, @cust, @hot);
		if ($rnd->() < 0.45)
		{
			$transfer->($rnd, $o, $priv, 1 + int($rnd->() * 800));
		}
		else
		{
			# up to 20 % more than the balance: some overdraw
			my $amt = 1 + int($rnd->() * ($pbal * 1.2 + 50));
			$transfer->($rnd, $priv, $o, $amt);
		}
	};
	$ops{transfer_invalid} = sub {
		my ($rnd) = @_;
		my $x = int($rnd->() * 8);
		my $r = $newref->();
		my $c = $pick->($rnd, @cust);
		my @b = ($r, $fund, $c, 10);
		my $exp = '22023';
		if    ($x == 0) { $b[3] = 0; }
		elsif ($x == 1) { $b[3] = -7; }
		elsif ($x == 2) { $b[2] = $b[1]; }
		elsif ($x == 3) { $b[2] = 999999; $exp = 'LD003'; }
		elsif ($x == 4) { $b[2] = $uc; $exp = 'LD009'; }
		elsif ($x == 5) { $b[0] = ''; $r = undef; }
		elsif ($x == 6) { $b[0] = 'x' x 129; $r = undef; }
		else            { $b[3] = undef; $exp = '22004'; }
		my $res = $run->('SELECT creditledger.transfer($1::text, $2::bigint, $3::bigint, $4::bigint)', @b);
		$outcome->("invalid transfer #$x", $res, $exp);
		$record->(op => 'transfer_invalid', ref => $r, res => $res, fresh => 1);
	};

	my $legs_json = sub {
		my ($legs) = @_;
		return '['
		  . join(',',
			map { sprintf('{"account": %d, "%s": %d}', $_->[0], $_->[1] eq 'D' ? 'debit' : 'credit', $_->[2]) }
			  @$legs)
		  . ']';
	};
	# split: total into n positive parts
	my $split = sub {
		my ($rnd, $total, $n) = @_;
		my @p;
		my $left = $total;
		for my $i (1 .. $n - 1)
		{
			my $x = 1 + int($rnd->() * ($left - ($n - $i)));
			push @p, $x;
			$left -= $x;
		}
		return (@p, $left);
	};
	$ops{entry} = sub {
		my ($rnd) = @_;
		my @pool = ($fund, @cust, @hot, $priv);
		my $n = 2 + int($rnd->() * 3);
		my @acc;
		while (@acc < $n)
		{
			my $a = $pick->($rnd, @pool);
			push @acc, $a unless grep { $_ == $a } @acc;
		}
		my $nd = 1 + int($rnd->() * ($n - 1));
		my $total = $n + int($rnd->() * 1500);
		my @d = $split->($rnd, $total, $nd);
		my @c = $split->($rnd, $total, $n - $nd);
		my @legs = ((map { [ $acc[$_], 'D', $d[$_] ] } 0 .. $nd - 1),
			(map { [ $acc[ $nd + $_ ], 'C', $c[$_] ] } 0 .. $n - $nd - 1));
		if ($rnd->() < 0.2)
		{
			my $y = 1 + int($rnd->() * 500);
			if ($rnd->() < 0.5) { push @legs, [ $ufund, 'D', $y ], [ $uc, 'C', $y ]; }
			else                { push @legs, [ $uc, 'D', $y ], [ $ufund, 'C', $y ]; }
		}
		my $memo = 'entry ' . int($rnd->() * 3);
		my $r = $newref->();
		my $lj = $legs_json->(\@legs);
		my $res = $posting->(
			'entry', "post_entry $r $lj",
			'SELECT creditledger.post_entry($1::text, $2::jsonb, $3::text)',
			[ $r, $lj, $memo ], \@legs, [ $r, $lj, "$memo (changed)" ]);
		push @posted, { ref => $r, id => $res->{val}, legs => \@legs } if $res->{ok};
	};
	$ops{entry_invalid} = sub {
		my ($rnd) = @_;
		my $x = int($rnd->() * 7);
		my $c = $pick->($rnd, @cust);
		my ($lj, $exp);
		if ($x == 0)
		{
			$lj = qq([{"account": $fund, "debit": 100}, {"account": $c, "credit": 99}]);
			$exp = 'LD010';
		}
		elsif ($x == 1)
		{
			$lj = qq([{"account": $fund, "debit": 100}, {"account": $uc, "credit": 100}]);
			$exp = 'LD010';
		}
		elsif ($x == 2) { $lj = qq([{"account": $fund, "debit": 100}]); $exp = '22023'; }
		elsif ($x == 3)
		{
			$lj = qq([{"account": $fund, "debit": 100, "credit": 100}, {"account": $c, "credit": 100}]);
			$exp = '22023';
		}
		elsif ($x == 4)
		{
			$lj = qq([{"account": $fund, "debit": 0}, {"account": $c, "credit": 0}]);
			$exp = '22023';
		}
		elsif ($x == 5)
		{
			$lj = qq([{"account": $fund, "debit": 5}, {"acct": $c, "credit": 5}]);
			$exp = '22023';
		}
		else
		{
			$lj = qq([{"account": $fund, "debit": 5}, {"account": 999999, "credit": 5}]);
			$exp = 'LD003';
		}
		my $r = $newref->();
		my $res = $run->('SELECT creditledger.post_entry($1::text, $2::jsonb)', $r, $lj);
		$outcome->("invalid post_entry #$x $lj", $res, $exp);
		$record->(op => 'entry_invalid', ref => $r, res => $res, fresh => 1);
	};

	my $rev_sql = 'SELECT creditledger.reverse($1::text, $2::text, $3::text)';
	$ops{reverse} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4) = map { $rnd->() } 1 .. 4;
		return $ops{transfer_shared}->($rnd) unless @posted;
		my $o = $posted[ int($x1 * @posted) ];
		if (my $rv = $o->{rev})
		{
			if ($x2 < 0.5)
			{
				# the same reversal again: a replay
				my $res = $run->($rev_sql, $o->{ref}, $rv->{named} ? $rv->{ref} : undef, $rv->{reason});
				$outcome->("reverse $o->{ref} again", $res, 'ok');
				$fail->("reverse $o->{ref} again returned $res->{val}, not $rv->{id}")
				  if $res->{ok} && $res->{val} ne $rv->{id};
				$record->(op => 'replay', ref => $rv->{ref}, res => $res);
			}
			else
			{
				my $r = $newref->(':rv');
				my $res = $run->($rev_sql, $o->{ref}, $r, undef);
				$outcome->("second reversal of $o->{ref} as $r", $res, 'LD005');
				$record->(op => 'reverse_twice', ref => $r, res => $res, fresh => 1);
			}
			return;
		}
		my $named  = $x2 < 0.5;
		my $r      = $named ? $newref->(':rv') : "$o->{ref}:reversal";
		my $reason = $x3 < 0.3 ? 'reason ' . int($x4 * 3) : undef;
		my @legs   = map { [ $_->[0], $_->[1] eq 'D' ? 'C' : 'D', $_->[2] ] } @{ $o->{legs} };
		my $res = $posting->(
			'reversal', "reverse $o->{ref} as $r",
			$rev_sql, [ $o->{ref}, $named ? $r : undef, $reason ],
			\@legs, [ $o->{ref}, $named ? $r : undef, ($reason // '') . ' (changed)' ],
			ref => $r, reverses => $o->{ref});
		if ($res->{ok})
		{
			$o->{rev} = { ref => $r, id => $res->{val}, named => $named, reason => $reason };
			push @reversals, { ref => $r, id => $res->{val} };
		}
	};
	$ops{reverse_invalid} = sub {
		my ($rnd) = @_;
		my $x = $rnd->();
		my $r = $newref->(':rv');
		my ($what, $target);
		if ($x < 0.5 && @reversals)
		{
			$target = $reversals[ int($rnd->() * @reversals) ]{ref};
			$what = "reverse the reversal $target";
		}
		else
		{
			$target = $newref->(':nothing');
			$what = "reverse the unknown $target";
		}
		my $res = $run->($rev_sql, $target, $r, undef);
		$outcome->($what, $res, 'LD005');
		$record->(op => 'reverse_invalid', ref => $r, res => $res, fresh => 1);
	};

	# Credit.
	my $ts = sub {
		my ($us) = @_;
		my @t = gmtime(int($us / 1_000_000));
		return sprintf('%04d-%02d-%02d %02d:%02d:%02d.%06d+00',
			$t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0], $us % 1_000_000);
	};
	my $freeze_sql = 'SELECT creditledger.credit_freeze($1::bigint, $2::bigint, $3::text, $4::timestamptz)';
	$ops{freeze} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4, $x5) = map { $rnd->() } 1 .. 5;
		my $private = $x1 < 0.35;
		my $l = $private ? $pline : $shared_lines[ int($x2 * @shared_lines) ];
		my $amt = 1 + int($x3 * 900);
		my $exp_us;
		$exp_us = int((time + 0.3 + $x5 * 1.7) * 1e6) if !$private && $x4 < 0.35;
		my $r = $newref->();
		my @b = ($l, $amt, $r, defined $exp_us ? $ts->($exp_us) : undef);
		my @allowed = $private ? ($pline_avail->() >= $amt ? 'ok' : 'LD002') : ('ok', 'LD002');
		my $res = $run->($freeze_sql, @b);
		# an expiring freeze whose first try was cut off may find its
		# expires_at passed by the time it is reissued
		push @allowed, '22023' if defined $exp_us && $res->{t_done} * 1e6 >= $exp_us - 2000;
		$outcome->("credit_freeze $r line $l amount $amt" . (defined $exp_us ? " expires $b[3]" : ''),
			$res, @allowed);
		$record->(
			op    => 'freeze',
			ref   => $r,
			res   => $res,
			fresh => 1,
			eff   => { line => $l, amount => $amt, exp_us => $exp_us });
		if ($res->{ok})
		{
			$hold{$r} = { id => $res->{val}, line => $l, amount => $amt, exp_us => $exp_us, rem => $amt };
			push @hold_refs, $r;
			push @acked, { ref => $r, sql => $freeze_sql, binds => \@b, id => $res->{val},
				cbinds => [ $l, $amt + 1, $r, $b[3] ], what => "credit_freeze $r" };
		}
	};
	$ops{freeze_invalid} = sub {
		my ($rnd) = @_;
		my $x = int($rnd->() * 4);
		my $r = $newref->();
		my @b = ($pline, 10, $r, undef);
		my $exp = '22023';
		if    ($x == 0) { $b[1] = 0; }
		elsif ($x == 1) { $b[0] = 999999; $exp = 'LD006'; }
		elsif ($x == 2) { $b[3] = $ts->(int((time - 10) * 1e6)); }
		else            { $b[2] = ''; $r = undef; }
		my $res = $run->($freeze_sql, @b);
		$outcome->("invalid credit_freeze #$x", $res, $exp);
		$record->(op => 'freeze_invalid', ref => $r, res => $res, fresh => 1);
	};

	# a hold of this worker: mostly one with something remaining
	my $pick_hold = sub {
		my ($x1, $x2) = @_;
		return undef unless @hold_refs;
		# open: something remains and not certainly expired
		my $now_us = time * 1e6;
		my @open = grep {
			$hold{$_}{rem} > 0 && !(defined $hold{$_}{exp_us} && $hold{$_}{exp_us} < $now_us - 10_000)
		} @hold_refs;
		my @from = ($x1 < 0.85 && @open) ? @open : @hold_refs;
		return $from[ int($x2 * @from) ];
	};
	# hold_outcomes: allowed outcomes of taking amt (undef: all) off a hold
	my $hold_outcomes = sub {
		my ($h, $amt) = @_;
		return ('LD007') if $h->{rem} == 0 || (defined $amt && $amt > $h->{rem});
		return ('ok', 'LD007') if defined $h->{exp_us};
		return ('ok');
	};
	# time_check: an expiring hold refused only once due, used only before
	my $time_check = sub {
		my ($what, $h, $amt, $res) = @_;
		return unless defined $h->{exp_us} && $h->{rem} > 0 && !(defined $amt && $amt > $h->{rem});
		if ($res->{ok} && $res->{t_first} * 1e6 > $h->{exp_us} + 2000)
		{
			$fail->("$what succeeded though sent after the hold expired");
		}
		if (!$res->{ok} && $res->{state} eq 'LD007' && $res->{t_done} * 1e6 < $h->{exp_us} - 2000)
		{
			$fail->("$what refused with LD007 before the hold expired ($res->{err})");
		}
	};

	my $unfreeze_sql = 'SELECT creditledger.credit_unfreeze($1::text, $2::text, $3::bigint)';
	$ops{unfreeze} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4) = map { $rnd->() } 1 .. 4;
		my $hr = $pick_hold->($x1, $x2);
		return $ops{freeze}->($rnd) unless defined $hr;
		my $h = $hold{$hr};
		my $amt =
			$x3 < 0.3 ? undef
		  : $x3 < 0.8 ? 1 + int($x4 * ($h->{rem} || 1))
		  :             $h->{rem} + 1 + int($x4 * 100);
		my $r = $newref->();
		my $what = "credit_unfreeze $r of $hr (" . ($amt // 'all') . " of $h->{rem})";
		my $res = $run->($unfreeze_sql, $hr, $r, $amt);
		$outcome->($what, $res, $hold_outcomes->($h, $amt));
		$time_check->($what, $h, $amt, $res);
		my $applied = $amt // $h->{rem};
		$record->(op => 'unfreeze', ref => $r, res => $res, fresh => 1,
			eff => { hold => $hr, amount => $applied });
		if ($res->{ok})
		{
			$h->{rem} -= $applied;
			push @acked, { ref => $r, sql => $unfreeze_sql, binds => [ $hr, $r, $amt ], id => $res->{val},
				cbinds => [ $hr, $r, defined $amt ? $amt + 1 : 1 ], what => $what };
		}
	};

	my $use_sql = 'SELECT creditledger.credit_use($1::text, $2::text, $3::bigint, $4::boolean)';
	$ops{use} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4, $x5) = map { $rnd->() } 1 .. 5;
		my $hr = $pick_hold->($x1, $x2);
		return $ops{freeze}->($rnd) unless defined $hr;
		my $h = $hold{$hr};
		my $amt =
			$x3 < 0.25 ? undef
		  : $x3 < 0.85 ? 1 + int($x4 * ($h->{rem} || 1))
		  :              $h->{rem} + 1 + int($x4 * 100);
		my $rest = $x5 < 0.3 ? 't' : 'f';
		my $r = $newref->();
		my $what = "credit_use $r of $hr (" . ($amt // 'all') . " of $h->{rem}, release_rest $rest)";
		my $res = $run->($use_sql, $hr, $r, $amt, $rest);
		$outcome->($what, $res, $hold_outcomes->($h, $amt));
		$time_check->($what, $h, $amt, $res);
		my $used = $amt // $h->{rem};
		my $released = $rest eq 't' ? $h->{rem} - $used : 0;
		$record->(op => 'use', ref => $r, res => $res, fresh => 1,
			eff => { hold => $hr, line => $h->{line}, amount => $used, rest => $released });
		if ($res->{ok})
		{
			$h->{rem} -= $used + $released;
			$draw{$r} = { id => $res->{val}, line => $h->{line}, out => $used };
			push @draw_refs, $r;
			push @acked, { ref => $r, sql => $use_sql, binds => [ $hr, $r, $amt, $rest ], id => $res->{val},
				cbinds => [ $hr, $r, defined $amt ? $amt + 1 : 1, $rest ], what => $what };
		}
	};

	my $direct_sql = 'SELECT creditledger.credit_use_direct($1::bigint, $2::bigint, $3::text)';
	$ops{use_direct} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3) = map { $rnd->() } 1 .. 3;
		my $private = $x1 < 0.35;
		my $l = $private ? $pline : $shared_lines[ int($x2 * @shared_lines) ];
		my $amt = 1 + int($x3 * 1000);
		my $r = $newref->();
		my @allowed = $private ? ($pline_avail->() >= $amt ? 'ok' : 'LD002') : ('ok', 'LD002');
		my $res = $run->($direct_sql, $l, $amt, $r);
		$outcome->("credit_use_direct $r line $l amount $amt", $res, @allowed);
		$record->(op => 'use_direct', ref => $r, res => $res, fresh => 1,
			eff => { line => $l, amount => $amt });
		if ($res->{ok})
		{
			$draw{$r} = { id => $res->{val}, line => $l, out => $amt };
			push @draw_refs, $r;
			push @acked, { ref => $r, sql => $direct_sql, binds => [ $l, $amt, $r ], id => $res->{val},
				cbinds => [ $l, $amt + 1, $r ], what => "credit_use_direct $r" };
		}
	};

	# temporary limits on the private line: a raise active from now for a
	# day (it never ends on time during the test), or the early end of an
	# active one (the line then behaves as after a limit decrease: above
	# its limit it refuses freezes and direct uses, LD002, as predicted
	# from its effective limit).  Both are idempotent on the ref, so a call
	# cut off by the crash and reissued has one outcome.
	my $temp_set_sql =
	  'SELECT creditledger.set_temporary_limit($1::bigint, $2::text, $3::bigint, $4::timestamptz)';
	my $temp_end_sql = 'SELECT creditledger.end_temporary_limit($1::text)';
	$ops{temp_limit} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3) = map { $rnd->() } 1 .. 3;
		my @active = grep { $ptemp{$_}{active} } @ptemp_refs;
		if ($x1 < 0.55 || !@active)
		{
			my $amt = 1 + int($x2 * 1500);
			my $r = $newref->();
			my $res = $run->($temp_set_sql, $pline, $r, $amt, $ts->(int((time + 86400) * 1e6)));
			$outcome->("set_temporary_limit $r line $pline amount $amt", $res, 'ok');
			$record->(op => 'temp_limit', ref => $r, res => $res, fresh => 1,
				eff => { line => $pline, amount => $amt });
			if ($res->{ok})
			{
				$ptemp{$r} = { amount => $amt, active => 1 };
				push @ptemp_refs, $r;
			}
		}
		else
		{
			my $tr = $active[ int($x3 * @active) ];
			my $res = $run->($temp_end_sql, $tr);
			$outcome->("end_temporary_limit $tr", $res, 'ok');
			$record->(op => 'temp_limit_end', ref => $tr, res => $res, eff => { line => $pline });
			$ptemp{$tr}{active} = 0 if $res->{ok};
		}
	};

	my $return_sql = 'SELECT creditledger.credit_return($1::text, $2::text, $3::bigint)';
	$ops{return} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4) = map { $rnd->() } 1 .. 4;
		return $ops{use_direct}->($rnd) unless @draw_refs;
		my @out = grep { $draw{$_}{out} > 0 } @draw_refs;
		my @from = ($x1 < 0.85 && @out) ? @out : @draw_refs;
		my $dr = $from[ int($x2 * @from) ];
		my $d = $draw{$dr};
		my $amt =
			$x3 < 0.35 ? ($d->{out} || 1)
		  : $x3 < 0.8  ? 1 + int($x4 * ($d->{out} || 1))
		  :              $d->{out} + 1 + int($x4 * 100);
		my $r = $newref->();
		my $what = "credit_return $r of $dr ($amt of $d->{out})";
		my $res = $run->($return_sql, $dr, $r, $amt);
		$outcome->($what, $res, $amt > $d->{out} ? 'LD008' : 'ok');
		$record->(op => 'return', ref => $r, res => $res, fresh => 1,
			eff => { draw => $dr, amount => $amt });
		if ($res->{ok})
		{
			$d->{out} -= $amt;
			push @acked, { ref => $r, sql => $return_sql, binds => [ $dr, $r, $amt ], id => $res->{val},
				cbinds => [ $dr, $r, $amt + 1 ], what => $what };
		}
	};

	# lending: credit_disburse_direct into the private account (LD002 over
	# the lending line's limit, then LD012 if the account refuses credits),
	# credit_repay from it (LD008 over the outstanding, then LD012 if it
	# refuses debits, then LD001 below its floor)
	my $disburse_sql = 'SELECT creditledger.credit_disburse_direct($1::bigint, $2::text, $3::bigint, $4::bigint)';
	$ops{disburse} = sub {
		my ($rnd) = @_;
		my $amt = 1 + int($rnd->() * 700);
		my $r = $newref->();
		my $out = 0;
		$out += $ldraw{$_}{out} for @ldraw_refs;
		my $exp = $llimit - $out < $amt ? 'LD002' : $blocked->($priv, 'C') ? 'LD012' : 'ok';
		my $what = "credit_disburse_direct $r $amt";
		my $res = $run->($disburse_sql, $lline, $r, $priv, $amt);
		$outcome->($what, $res, $exp);
		my $legs = [ [ $lrecv, 'D', $amt ], [ $priv, 'C', $amt ] ];
		$record->(op => 'disburse', ref => $r, res => $res, fresh => 1,
			eff => { line => $lline, amount => $amt, legs => $legs });
		if ($res->{ok})
		{
			$apply_private->($legs);
			$ldraw{$r} = { id => $res->{val}, out => $amt };
			push @ldraw_refs, $r;
			push @acked, { ref => $r, sql => $disburse_sql, binds => [ $lline, $r, $priv, $amt ], id => $res->{val},
				cbinds => [ $lline, $r, $priv, $amt + 1 ], what => $what };
		}
	};
	my $repay_sql = 'SELECT creditledger.credit_repay($1::text, $2::text, $3::bigint, $4::bigint)';
	$ops{repay} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3) = map { $rnd->() } 1 .. 3;
		return $ops{disburse}->($rnd) unless @ldraw_refs;
		my @out = grep { $ldraw{$_}{out} > 0 } @ldraw_refs;
		my @from = @out ? @out : @ldraw_refs;
		my $dr = $from[ int($x1 * @from) ];
		my $d = $ldraw{$dr};
		my $amt =
			$x2 < 0.35 ? ($d->{out} || 1)
		  : $x2 < 0.8  ? 1 + int($x3 * ($d->{out} || 1))
		  :              $d->{out} + 1 + int($x3 * 100);
		my $r = $newref->();
		my $exp = $amt > $d->{out} ? 'LD008'
		  : $blocked->($priv, 'D') ? 'LD012'
		  : $pbal - $pheld - $amt < $acct_by_id{$priv}{min} ? 'LD001'
		  : 'ok';
		my $what = "credit_repay $r of $dr ($amt of $d->{out})";
		my $res = $run->($repay_sql, $dr, $r, $priv, $amt);
		$outcome->($what, $res, $exp);
		my $legs = [ [ $priv, 'D', $amt ], [ $lrecv, 'C', $amt ] ];
		$record->(op => 'repay', ref => $r, res => $res, fresh => 1,
			eff => { draw => $dr, amount => $amt, legs => $legs });
		if ($res->{ok})
		{
			$apply_private->($legs);
			$d->{out} -= $amt;
			push @acked, { ref => $r, sql => $repay_sql, binds => [ $dr, $r, $priv, $amt ], id => $res->{val},
				cbinds => [ $dr, $r, $priv, $amt + 1 ], what => $what };
		}
	};

	$ops{credit_invalid} = sub {
		my ($rnd) = @_;
		my $x = int($rnd->() * 6);
		my $r = $newref->();
		my ($exp, $sql, @b);
		if    ($x == 0) { ($exp, $sql, @b) = ('LD007', $unfreeze_sql, $newref->(':nohold'), $r, undef); }
		elsif ($x == 1) { ($exp, $sql, @b) = ('LD007', $use_sql, $newref->(':nohold'), $r, 5, 'f'); }
		elsif ($x == 2) { ($exp, $sql, @b) = ('LD008', $return_sql, $newref->(':nodraw'), $r, 5); }
		elsif ($x == 3) { ($exp, $sql, @b) = ('22023', $unfreeze_sql, $newref->(':nohold'), $r, 0); }
		elsif ($x == 4) { ($exp, $sql, @b) = ('22023', $direct_sql, $pline, -1, $r); }
		else            { ($exp, $sql, @b) = ('LD006', $direct_sql, 999999, 5, $r); }
		my $res = $run->($sql, @b);
		$outcome->("invalid credit call #$x", $res, $exp);
		$record->(op => 'credit_invalid', ref => $r, res => $res, fresh => 1);
	};

	$ops{replay} = sub {
		my ($rnd) = @_;
		my $x = $rnd->();
		return $ops{transfer_shared}->($rnd) unless @acked;
		my $c = $acked[ int($x * @acked) ];
		my $res = $run->($c->{sql}, @{ $c->{binds} });
		$outcome->("replay of $c->{what}", $res, 'ok');
		$fail->("replay of $c->{what} returned $res->{val}, not $c->{id}")
		  if $res->{ok} && $res->{val} ne $c->{id};
		$record->(op => 'replay', ref => $c->{ref}, res => $res);
	};
	$ops{conflict} = sub {
		my ($rnd) = @_;
		my $x = $rnd->();
		return $ops{transfer_shared}->($rnd) unless @acked;
		my $c = $acked[ int($x * @acked) ];
		my $res = $run->($c->{sql}, @{ $c->{cbinds} });
		$outcome->("reference of $c->{what} with another payload", $res, 'LD004');
		$record->(op => 'conflict', ref => $c->{ref}, res => $res);
	};

	# Money holds.  The worker's own pending transfers and funds holds are
	# known exactly (only it posts, voids or releases them); reservations on
	# its private account never expire, so its available balance
	# (pbal - pheld) is exact; expiring ones sit on shared accounts and are
	# checked against the client clock like expiring credit holds.
	my $pend_sql = 'SELECT creditledger.transfer_pending($1::text, $2::bigint, $3::bigint, $4::bigint, $5::timestamptz, $6::text)';
	my $post_sql = 'SELECT creditledger.transfer_post($1::text, $2::text, $3::bigint, $4::boolean)';
	my $void_sql = 'SELECT creditledger.transfer_void($1::text, $2::text)';
	my $fhold_sql = 'SELECT creditledger.hold_funds($1::text, $2::bigint, $3::bigint, $4::text, $5::timestamptz)';
	my $frel_sql = 'SELECT creditledger.release_funds($1::text, $2::text, $3::bigint)';
	my $block_sql = 'SELECT creditledger.set_account_block($1::bigint, $2::text, $3::text)';
	# decreases(account, side): whether a leg on that side lowers the account
	my $decreases = sub { return ($_[1] eq 'D') == ($acct_by_id{ $_[0] }{side} eq 'credit'); };
	# reserve_outcomes: what reserving amt on the given accounts may give
	my $reserve_outcomes = sub {
		my ($amt, @accts) = @_;
		my ($short, $unsure) = (0, 0);
		for my $a (@accts)
		{
			next unless defined $acct_by_id{$a}{min};
			if ($a == $priv) { $short = 1 if $pbal - $pheld - $amt < $acct_by_id{$a}{min}; }
			else             { $unsure = 1; }
		}
		return ('LD001') if $short;
		return ('ok', 'LD001') if $unsure;
		return ('ok');
	};
	# a due reservation counts as released: ok only before, LD013 only after
	my $due_check = sub {
		my ($what, $x, $fits, $res) = @_;
		return unless defined $x->{exp_us} && $x->{open} && $fits;
		$fail->("$what succeeded though sent after its expires_at")
		  if $res->{ok} && $res->{t_first} * 1e6 > $x->{exp_us} + 2000;
		$fail->("$what refused with LD013 before its expires_at ($res->{err})")
		  if !$res->{ok} && $res->{state} eq 'LD013' && $res->{t_done} * 1e6 < $x->{exp_us} - 2000;
	};
	# state_outcomes: taking amt (undef: all) off a record with rem left
	my $state_outcomes = sub {
		my ($x, $amt) = @_;
		return ('LD013') if !$x->{open} || (defined $amt && $amt > $x->{rem});
		return ('ok', 'LD013') if defined $x->{exp_us};
		return ('ok');
	};
	my $pick_rec = sub {
		my ($x1, $x2, $map, $refs) = @_;
		return undef unless @$refs;
		my $now_us = time * 1e6;
		my @open = grep {
			$map->{$_}{open} && !(defined $map->{$_}{exp_us} && $map->{$_}{exp_us} < $now_us - 10_000)
		} @$refs;
		my @from = ($x1 < 0.85 && @open) ? @open : @$refs;
		return $from[ int($x2 * @from) ];
	};

	$ops{pending} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4, $x5, $x6, $x7) = map { $rnd->() } 1 .. 7;
		my ($deb, $cred, $amt);
		my $o = $pick->($rnd, $fund, @cust, @hot);
		my $c1 = $pick->($rnd, @cust, @hot);
		my $c2 = $pick->($rnd, grep { $_ != $c1 } @cust, @hot);
		if ($x1 < 0.4)
		{
			($deb, $cred) = ($priv, $o);
			# up to 20 % more than is available: some overdraw
			$amt = 1 + int($x2 * (($pbal - $pheld) * 1.2 + 50));
		}
		else
		{
			($deb, $cred) =
				$x1 < 0.55 ? ($o, $priv)
			  : $x1 < 0.7  ? ($fund, $c1)
			  : $x1 < 0.85 ? ($c1, $fund)
			  :              ($c1, $c2);
			$amt = 1 + int($x2 * 1200);
		}
		my $exp_us;
		$exp_us = int((time + 0.3 + $x4 * 1.7) * 1e6) if $deb != $priv && $cred != $priv && $x3 < 0.35;
		my $memo = $x5 < 0.3 ? 'auth ' . int($x6 * 3) : undef;
		my $r = $newref->();
		my @b = ($r, $deb, $cred, $amt, defined $exp_us ? $ts->($exp_us) : undef, $memo);
		my @res_on = grep { $decreases->(@$_) } [ $deb, 'D' ], [ $cred, 'C' ];
		my @allowed =
		  ($blocked->($deb, 'D') || $blocked->($cred, 'C'))
		  ? ('LD012')
		  : $reserve_outcomes->($amt, map { $_->[0] } @res_on);
		my $res = $run->($pend_sql, @b);
		push @allowed, '22023' if defined $exp_us && $res->{t_done} * 1e6 >= $exp_us - 2000;
		$outcome->("transfer_pending $r $deb->$cred $amt" . (defined $exp_us ? " expires $b[4]" : ''),
			$res, @allowed);
		$record->(op => 'pending', ref => $r, res => $res, fresh => 1,
			eff => { debit => $deb, credit => $cred, amount => $amt, exp_us => $exp_us });
		if ($res->{ok})
		{
			$pheld += $amt if $deb == $priv;
			$pend{$r} = { id => $res->{val}, debit => $deb, credit => $cred, amount => $amt, rem => $amt,
				open => 1, exp_us => $exp_us };
			push @pend_refs, $r;
			push @acked, { ref => $r, sql => $pend_sql, binds => \@b, id => $res->{val},
				cbinds => [ $r, $deb, $cred, $amt + 1, $b[4], $memo ], what => "transfer_pending $r" }
			  unless defined $exp_us;
		}
	};

	$ops{post} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4, $x5) = map { $rnd->() } 1 .. 5;
		my $pr = $pick_rec->($x1, $x2, \%pend, \@pend_refs);
		return $ops{pending}->($rnd) unless defined $pr;
		my $p = $pend{$pr};
		my $amt =
			$x3 < 0.35 ? undef
		  : $x3 < 0.85 ? 1 + int($x4 * ($p->{rem} || 1))
		  :              $p->{rem} + 1 + int($x4 * 100);
		my $final = $x5 < 0.5 ? 't' : 'f';
		my $r = $newref->();
		my $what = "transfer_post $r of $pr (" . ($amt // 'all') . " of $p->{rem}, final $final)";
		my $res = $run->($post_sql, $r, $pr, $amt, $final);
		# the pending transfer's state is checked first, then the blocks
		my @allowed = $state_outcomes->($p, $amt);
		@allowed = map { $_ eq 'ok' ? 'LD012' : $_ } @allowed
		  if $blocked->($p->{debit}, 'D') || $blocked->($p->{credit}, 'C');
		$outcome->($what, $res, @allowed);
		$due_check->($what, $p, !(defined $amt && $amt > $p->{rem}), $res);
		my $applied = $amt // $p->{rem};
		my $closes = $final eq 't' || $applied == $p->{rem} ? 1 : 0;
		$record->(op => 'post', ref => $r, res => $res, fresh => 1,
			eff => { pending => $pr, amount => $applied, closes => $closes,
				legs => [ [ $p->{debit}, 'D', $applied ], [ $p->{credit}, 'C', $applied ] ] });
		if ($res->{ok})
		{
			if ($p->{debit} == $priv)
			{
				$pbal -= $applied;
				$pheld -= $closes ? $p->{rem} : $applied;
			}
			$pbal += $applied if $p->{credit} == $priv;
			$p->{rem} = $closes ? 0 : $p->{rem} - $applied;
			$p->{open} = 0 if $closes;
			push @acked, { ref => $r, sql => $post_sql, binds => [ $r, $pr, $amt, $final ], id => $res->{val},
				cbinds => [ $r, $pr, defined $amt ? $amt + 1 : 1, $final ], what => $what };
		}
	};

	$ops{void} = sub {
		my ($rnd) = @_;
		my ($x1, $x2) = map { $rnd->() } 1 .. 2;
		my $pr = $pick_rec->($x1, $x2, \%pend, \@pend_refs);
		return $ops{pending}->($rnd) unless defined $pr;
		my $p = $pend{$pr};
		my $r = $newref->();
		my $what = "transfer_void $r of $pr ($p->{rem} left)";
		my $res = $run->($void_sql, $r, $pr);
		$outcome->($what, $res, $state_outcomes->($p, undef));
		$due_check->($what, $p, 1, $res);
		$fail->("$what returned $res->{val}, not the pending id $p->{id}") if $res->{ok} && $res->{val} ne $p->{id};
		$record->(op => 'void', ref => $r, res => $res, fresh => 1, eff => { pending => $pr });
		if ($res->{ok})
		{
			$pheld -= $p->{rem} if $p->{debit} == $priv;
			@$p{qw(rem open)} = (0, 0);
			push @acked, { ref => $r, sql => $void_sql, binds => [ $r, $pr ], id => $res->{val},
				cbinds => [ $r, "$pr:other" ], what => $what };
		}
	};

	$ops{hold_funds} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4, $x5) = map { $rnd->() } 1 .. 5;
		my $private = $x1 < 0.4;
		my $a = $private ? $priv : $pick->($rnd, $fund, @cust, @hot);
		my $amt = $private ? 1 + int($x2 * (($pbal - $pheld) * 1.2 + 30)) : 1 + int($x2 * 600);
		my $exp_us;
		$exp_us = int((time + 0.3 + $x4 * 1.7) * 1e6) if !$private && $x3 < 0.35;
		my $reason = $x5 < 0.5 ? 'court order ' . int($x5 * 10) : undef;
		my $r = $newref->();
		my @b = ($r, $a, $amt, $reason, defined $exp_us ? $ts->($exp_us) : undef);
		my @allowed = $reserve_outcomes->($amt, $a);
		my $res = $run->($fhold_sql, @b);
		push @allowed, '22023' if defined $exp_us && $res->{t_done} * 1e6 >= $exp_us - 2000;
		$outcome->("hold_funds $r account $a amount $amt" . (defined $exp_us ? " expires $b[4]" : ''),
			$res, @allowed);
		$record->(op => 'hold_funds', ref => $r, res => $res, fresh => 1,
			eff => { account => $a, amount => $amt, exp_us => $exp_us });
		if ($res->{ok})
		{
			$pheld += $amt if $private;
			$fhold{$r} = { id => $res->{val}, account => $a, rem => $amt, open => 1, exp_us => $exp_us };
			push @fhold_refs, $r;
			push @acked, { ref => $r, sql => $fhold_sql, binds => \@b, id => $res->{val},
				cbinds => [ $r, $a, $amt + 1, $reason, undef ], what => "hold_funds $r" }
			  unless defined $exp_us;
		}
	};

	$ops{release_funds} = sub {
		my ($rnd) = @_;
		my ($x1, $x2, $x3, $x4) = map { $rnd->() } 1 .. 4;
		my $hr = $pick_rec->($x1, $x2, \%fhold, \@fhold_refs);
		return $ops{hold_funds}->($rnd) unless defined $hr;
		my $h = $fhold{$hr};
		my $amt =
			$x3 < 0.3 ? undef
		  : $x3 < 0.85 ? 1 + int($x4 * ($h->{rem} || 1))
		  :              $h->{rem} + 1 + int($x4 * 100);
		my $r = $newref->();
		my $what = "release_funds $r of $hr (" . ($amt // 'all') . " of $h->{rem})";
		my $res = $run->($frel_sql, $r, $hr, $amt);
		$outcome->($what, $res, $state_outcomes->($h, $amt));
		$due_check->($what, $h, !(defined $amt && $amt > $h->{rem}), $res);
		$fail->("$what returned $res->{val}, not the hold id $h->{id}") if $res->{ok} && $res->{val} ne $h->{id};
		my $applied = $amt // $h->{rem};
		$record->(op => 'release_funds', ref => $r, res => $res, fresh => 1,
			eff => { hold => $hr, amount => $applied });
		if ($res->{ok})
		{
			$pheld -= $applied if $h->{account} == $priv;
			$h->{rem} -= $applied;
			$h->{open} = 0 if $h->{rem} == 0;
			push @acked, { ref => $r, sql => $frel_sql, binds => [ $r, $hr, $amt ], id => $res->{val},
				cbinds => [ $r, $hr, defined $amt ? $amt + 1 : 1 ], what => $what };
		}
	};

	$ops{holds_invalid} = sub {
		my ($rnd) = @_;
		my $x = int($rnd->() * 11);
		my $r = $newref->();
		my $c = $pick->($rnd, @cust);
		my ($exp, $sql, @b);
		if    ($x == 9)  { ($exp, $sql, @b) = ('22023', $block_sql, $priv, 'sideways', undef); $r = undef; }
		elsif ($x == 10) { ($exp, $sql, @b) = ('LD003', $block_sql, 999999, 'all', undef); $r = undef; }
		elsif ($x == 0) { ($exp, $sql, @b) = ('LD013', $post_sql, $r, $newref->(':nopend'), undef, 't'); }
		elsif ($x == 1) { ($exp, $sql, @b) = ('LD013', $void_sql, $r, $newref->(':nopend')); }
		elsif ($x == 2) { ($exp, $sql, @b) = ('LD013', $frel_sql, $r, $newref->(':nohold'), undef); }
		elsif ($x == 3)
		{
			($exp, $sql, @b) = ('22023', $pend_sql, $r, $fund, $c, 10, $ts->(int((time - 10) * 1e6)), undef);
		}
		elsif ($x == 4) { ($exp, $sql, @b) = ('22023', $pend_sql, $r, $fund, $c, 0, undef, undef); }
		elsif ($x == 5) { ($exp, $sql, @b) = ('LD003', $pend_sql, $r, $fund, 999999, 10, undef, undef); }
		elsif ($x == 6) { ($exp, $sql, @b) = ('LD009', $pend_sql, $r, $fund, $uc, 10, undef, undef); }
		elsif ($x == 7) { ($exp, $sql, @b) = ('22023', $fhold_sql, $r, $c, -1, undef, undef); }
		else            { ($exp, $sql, @b) = ('22023', $pend_sql, $r, $c, $c, 10, undef, undef); }
		my $res = $run->($sql, @b);
		$outcome->("invalid money-hold call #$x", $res, $exp);
		$record->(op => 'holds_invalid', ref => $r, res => $res, fresh => 1);
	};

	# set_account_block of the private account: each direction and back,
	# in any order; a call that sets the block it has changes nothing
	$ops{block} = sub {
		my ($rnd) = @_;
		my ($x1, $x2) = map { $rnd->() } 1 .. 2;
		my $b =
			$x1 < 0.45 ? 'none'
		  : $x1 < 0.65 ? 'debits'
		  : $x1 < 0.85 ? 'credits'
		  :              'all';
		my $reason = $x2 < 0.5 ? 'review ' . int($x2 * 10) : undef;
		my $res = $run->($block_sql, $priv, $b, $reason);
		$outcome->("set_account_block $priv $b (was $pblock)", $res, 'ok');
		$record->(op => 'block', res => $res,
			eff => { account => $priv, block => $b, changed => $b ne $pblock ? 1 : 0 });
		$pblock = $b if $res->{ok};
	};

	$ops{expire} = sub {
		my ($rnd) = @_;
		my $res = $run->('SELECT creditledger.expire_pending()');
		$outcome->('expire_pending()', $res, 'ok');
		$record->(op => 'expire', res => $res);
	};

	# Batch posting: post_batch of 2 to 5 items (transfers and entries on
	# the private and shared accounts, invalid items, and duplicates of an
	# earlier item's voucher, with the same payload or another), some
	# linked, one batch in five atomic.  The prediction is per item, made
	# after the call by replaying the batch in the worker's model group by
	# group: an item on the private account is ok or LD001 exactly, an item
	# only on shared accounts ok or LD001, an invalid one its SQLSTATE; a
	# duplicate of an item its group applied is a replay (the same id) or
	# LD004.  A group succeeds or fails as a whole (one item with its own
	# error, the others LD014); an atomic batch raises the failing item's
	# error (its number in the context) and applies nothing.
	my $batch_sql = q{SELECT coalesce(json_agg(json_build_array(r.item, r.id, r.sqlstate) ORDER BY r.item)::text, '[]')
	                    FROM creditledger.post_batch($1::jsonb, $2::boolean) r};
	$ops{batch} = sub {
		my ($rnd) = @_;
		my $k = 2 + int($rnd->() * 4);
		my $atomic = $rnd->() < 0.2 ? 1 : 0;
		my (@items, @json);
		for my $i (1 .. $k)
		{
			my ($x, $y, $z, $l) = map { $rnd->() } 1 .. 4;
			my $o = $pick->($rnd, $fund, @cust, @hot);
			my $c1 = $pick->($rnd, @cust);
			my %it = (v => $newref->(":b$i"), linked => ($i < $k && $l < 0.35) ? 1 : 0);
			if ($x < 0.3)
			{
				%it = (%it, op => 'transfer', legs => $y < 0.45
					? [ [ $o, 'D', 1 + int($z * 600) ], [ $priv, 'C', 1 + int($z * 600) ] ]
					: [ [ $priv, 'D', 1 + int($z * (($pbal - $pheld) * 0.8 + 50)) ],
						[ $o, 'C', 1 + int($z * (($pbal - $pheld) * 0.8 + 50)) ] ]);
			}
			elsif ($x < 0.55)
			{
				my $amt = 1 + int($z * 1500);
				%it = (%it, op => 'transfer',
					legs => $y < 0.5 ? [ [ $fund, 'D', $amt ], [ $c1, 'C', $amt ] ] : [ [ $c1, 'D', $amt ], [ $fund, 'C', $amt ] ]);
			}
			elsif ($x < 0.7)
			{
				my $amt = 1 + int($z * 400);
				%it = (%it, op => 'entry',
					legs => $y < 0.5 ? [ [ $fund, 'D', $amt ], [ $priv, 'C', $amt ] ] : [ [ $priv, 'D', $amt ], [ $c1, 'C', $amt ] ]);
			}
			elsif ($x < 0.82)
			{
				my $w = int($y * 3);
				%it = (%it, op => 'transfer', legs => [ [ $fund, 'D', 10 ], [ $c1, 'C', 10 ] ]);
				if    ($w == 0) { $it{amount0} = 1;  $it{exp} = '22023'; }
				elsif ($w == 1) { $it{legs}[1][0] = 999999; $it{exp} = 'LD003'; }
				else            { $it{legs}[1][0] = $fund;  $it{exp} = '22023'; }
			}
			elsif ($i > 1)
			{
				# a duplicate of an earlier item of this batch
				my $e = $items[ int($y * ($i - 1)) ];
				%it = (%$e, linked => $it{linked}, dup => $e->{v});
				$it{legs} = [ map { [@$_] } @{ $e->{legs} } ];
				if ($z < 0.5 && !$e->{exp}) { $_->[2] += 1 for @{ $it{legs} }; $it{changed} = 1; }
			}
			else
			{
				%it = (%it, op => 'transfer', legs => [ [ $fund, 'D', 5 ], [ $c1, 'C', 5 ] ]);
			}
			$it{v} = $it{dup} if $it{dup};
			push @items, \%it;
			my %j = (op => $it{op}, voucher => $it{v});
			if ($it{op} eq 'transfer')
			{
				%j = (%j, debit => 0 + $it{legs}[0][0], credit => 0 + $it{legs}[1][0],
					amount => $it{amount0} ? 0 : 0 + $it{legs}[0][2]);
			}
			else
			{
				$j{legs} = [ map { { account => 0 + $_->[0], ($_->[1] eq 'D' ? 'debit' : 'credit') => 0 + $_->[2] } } @{ $it{legs} } ];
			}
			$j{linked} = JSON::PP::true if $it{linked};
			push @json, \%j;
		}
		my $res = $run->($batch_sql, $json->encode(\@json), $atomic ? 'true' : 'false');
		my @rows;
		if ($res->{ok})
		{
			@rows = @{ $json->decode($res->{val}) };
			$fail->("batch: " . scalar(@rows) . " result rows for $k items") if @rows != $k;
		}
		elsif (!$atomic || $res->{err} !~ /post_batch item (\d+)/)
		{
			$outcome->('post_batch' . ($atomic ? ' (atomic)' : ''), $res, 'ok');
			$record->(op => 'batch', res => $res);
			return;
		}
		# the groups (an atomic batch: one)
		my @groups = ([]);
		for my $i (0 .. $k - 1)
		{
			push @{ $groups[-1] }, $i;
			push @groups, [] if !$atomic && !$items[$i]{linked} && $i < $k - 1;
		}
		my $failed_at = (!$res->{ok} && $res->{err} =~ /post_batch item (\d+)/) ? $1 - 1 : undef;
		my %claimed;    # voucher => [id, item] of items the model applied
		for my $g (@groups)
		{
			# the item with its own error (the others of the group: LD014)
			my $f;
			if ($res->{ok})
			{
				for my $i (@$g)
				{
					if (defined $rows[$i][2] && $rows[$i][2] ne 'LD014') { $f = $i; last; }
				}
				for my $i (@$g)
				{
					my $st = $rows[$i][2];
					my $want = !defined $f ? 'ok' : $i == $f ? ($st // 'ok') : 'LD014';
					$fail->("batch item " . ($i + 1) . " $items[$i]{v}: got " . ($st // 'ok') . ", but "
						  . (defined $f ? 'item ' . ($f + 1) . ' of its group failed' : 'no item of its group failed'))
					  if ($st // 'ok') ne $want;
				}
			}
			else { $f = $failed_at; }
			my ($tbal, %tclaimed) = ($pbal);
			for my $i (@$g)
			{
				last if defined $f && $i > $f;
				my $it = $items[$i];
				# what this item did: before the failing one, it ran (and was rolled back)
				my $got = (defined $f && $i == $f) ? ($res->{ok} ? $rows[$i][2] : $res->{state}) : 'ok';
				my $id = $res->{ok} && !defined $f ? $rows[$i][1] : undef;
				my @allowed;
				my $prior = $tclaimed{ $it->{v} } // $claimed{ $it->{v} };
				if ($it->{exp}) { @allowed = ($it->{exp}); }
				elsif ($prior)
				{
					# a replay if the payload equals the one that claimed the
					# voucher (which may itself be a changed duplicate that
					# ran because the original failed), else LD004
					my $c = $items[ $prior->[1] ];
					@allowed = ($c->{op} eq $it->{op} && $json->encode($c->{legs}) eq $json->encode($it->{legs}))
					  ? ('ok') : ('LD004');
				}
				elsif (grep { $blocked->($_->[0], $_->[1]) } @{ $it->{legs} }) { @allowed = ('LD012'); }
				else
				{
					my %net;
					$net{ $_->[0] } += $signed->($_) for @{ $it->{legs} };
					my ($short, $unsure) = (0, 0);
					for my $a (keys %net)
					{
						next if $net{$a} >= 0 || !defined $acct_by_id{$a}{min};
						if ($a == $priv) { $short = 1 if $tbal - $pheld + $net{$a} < $acct_by_id{$a}{min}; }
						else             { $unsure = 1; }
					}
					@allowed = $short ? ('LD001') : $unsure ? ('ok', 'LD001') : ('ok');
				}
				unless (grep { $_ eq $got } @allowed, @tolerate)
				{
					$fail->("batch item " . ($i + 1) . " $it->{op} $it->{v} " . $json->encode($it->{legs})
						  . ": " . ($got eq 'ok' ? 'ran ok' : "got $got")
						  . ($res->{ok} ? '' : " ($res->{err})") . ', allowed: ' . join('|', @allowed));
				}
				next unless $got eq 'ok';
				if ($prior)
				{
					$fail->("batch item " . ($i + 1) . " $it->{v}: replay returned $id, not $prior->[0]")
					  if defined $id && defined $prior->[0] && $id ne $prior->[0];
				}
				else
				{
					for (@{ $it->{legs} }) { $tbal += $signed->($_) if $_->[0] == $priv; }
					$tclaimed{ $it->{v} } = [ $id, $i ];
				}
			}
			if (!defined $f && $res->{ok})
			{
				$pbal = $tbal;
				%claimed = (%claimed, %tclaimed);
			}
		}
		# one log line per item, as the single call would have logged it
		for my $i (0 .. $k - 1)
		{
			my $it = $items[$i];
			my $ok = $res->{ok} && !defined $rows[$i][2];
			my %l = (p => $phase, n => $opno, pick => $picked, fn => 'post_batch', item => $i + 1,
				ref => $it->{v}, ok => $ok ? 1 : 0);
			my $c = $claimed{ $it->{v} };
			if ($ok && $c && $c->[1] == $i)
			{
				%l = (%l, op => $it->{op}, id => $rows[$i][1], fresh => 1,
					eff => { kind => $it->{op}, legs => $it->{legs} });
				if ($it->{op} eq 'transfer')
				{
					my @b = ($it->{v}, $it->{legs}[0][0], $it->{legs}[1][0], $it->{legs}[0][2], undef);
					push @acked, { ref => $it->{v}, id => $rows[$i][1], what => "batch transfer $it->{v}",
						sql => 'SELECT creditledger.transfer($1::text, $2::bigint, $3::bigint, $4::bigint, $5::text)',
						binds => \@b, cbinds => [ @b[ 0 .. 2 ], $b[3] + 1, undef ] };
					push @posted, { ref => $it->{v}, id => $rows[$i][1], legs => $it->{legs} };
				}
			}
			elsif ($ok)
			{
				%l = (%l, op => 'replay', id => $rows[$i][1]);
			}
			else
			{
				%l = (%l, op => 'batch_item',
					state => $res->{ok} ? $rows[$i][2] : ((defined $failed_at && $i == $failed_at) ? $res->{state} : 'atomic'),
					fresh => ($it->{dup} ? 0 : 1));
			}
			$l{retries} = $res->{retries} if $res->{retries};
			$wlog->(\%l);
		}
	};

	my @weights = (
		transfer_shared => 12, transfer_hot     => 10, transfer_private => 10,
		transfer_invalid => 3, entry            => 8,  entry_invalid    => 3,
		reverse          => 7, reverse_invalid  => 2,  freeze           => 11,
		freeze_invalid   => 2, unfreeze         => 7,  use              => 8,
		use_direct       => 5, return           => 6,  credit_invalid   => 3,
		replay           => 5, conflict         => 4,  pending          => 9,
		post             => 7, void             => 3,  hold_funds       => 5,
		release_funds    => 4, holds_invalid    => 3,  expire           => 1,
		block            => 2, batch            => 6,  disburse         => 4,
		repay            => 4, temp_limit       => 3,);
	my $wsum = 0;
	$wsum += $weights[ 2 * $_ + 1 ] for 0 .. $#weights / 2;

	my $body = sub {
		for my $p (1, 2)
		{
			$phase = $p;
			if ($p == 2)
			{
				until (-e "$dir/go2")
				{
					POSIX::_exit(3) if getppid() != $parent;
					sleep 0.05;
				}
			}
			for my $n (1 .. $K)
			{
				$opno = $n;
				# every operation draws exactly 32 numbers, whatever it does
				my @r = map { rand() } 1 .. 32;
				my $rnd = sub { @r ? shift @r : 0.5 };
				my $x = $rnd->() * $wsum;
				my $op;
				for (my $i = 0; $i < @weights; $i += 2)
				{
					$op = $weights[$i];
					last if ($x -= $weights[ $i + 1 ]) < 0;
				}
				$picked = $op;
				$ops{$op}->($rnd);
			}
			$wlog->({ mark => 'done', p => $p, fails => $fails });
		}
	};
	eval { $body->(); 1 } or do
	{
		my $e = $@;
		$wlog->({ ev => 'FAIL', p => $phase, n => $opno, msg => "worker $W died: $e" });
		return 1;
	};
	return 0;
}

# Read a worker's log: its JSON lines.
sub read_log
{
	my ($w) = @_;
	my @lines;
	open(my $fh, '<', "$dir/w$w.log") or return ();
	while (my $l = <$fh>)
	{
		next unless $l =~ /\n\z/;    # a line being written
		push @lines, $json->decode($l);
	}
	close $fh;
	return @lines;
}

# count_ops: calls logged so far by all workers (cheap: no JSON parsing).
sub count_ops
{
	my $n = 0;
	for my $w (1 .. $NW)
	{
		open(my $fh, '<', "$dir/w$w.log") or next;
		while (<$fh>) { $n++ if /"op":/; }
		close $fh;
	}
	return $n;
}

my %pids;
for my $w (1 .. $NW)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		# the child must not run the test framework's END blocks (they
		# would stop the node): leave with POSIX::_exit
		my $rc = eval { worker_main($w) } // 1;
		POSIX::_exit($rc);
	}
	$pids{$pid} = $w;
}

my %exit_code;

# wait_marks(phase, deadline): until every worker marked the phase done
# (or exited); returns true when all did.
sub reap
{
	while ((my $pid = waitpid(-1, WNOHANG)) > 0)
	{
		$exit_code{ $pids{$pid} } = $? >> 8 if exists $pids{$pid};
	}
}

sub wait_marks
{
	my ($p, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		reap();
		my $done = 0;
		for my $w (1 .. $NW)
		{
			if (exists $exit_code{$w}) { $done++; next; }
			open(my $fh, '<', "$dir/w$w.log") or next;
			while (<$fh>)
			{
				if (/"mark":"done"/ && /"p":$p\b/) { $done++; last; }
			}
			close $fh;
		}
		return 1 if $done == $NW;
		sleep 0.2;
	}
	return 0;
}

###########################################################################
# The model and the checks
###########################################################################

sub check_model
{
	my ($label, $max_phase) = @_;
	my @log;
	for my $w (1 .. $NW) { push @log, grep { ($_->{p} // 0) <= $max_phase } read_log($w); }

	# failures the workers saw
	my @fails = map { "p$_->{p} n$_->{n}: $_->{msg}" } grep { ($_->{ev} // '') eq 'FAIL' } @log;
	check(!@fails, "$label: every outcome is one the contract allows",
		join("\n", @fails[ 0 .. min(29, $#fails) ]) . (@fails > 30 ? "\n... " . scalar(@fails) . ' in all' : ''));

	my @calls = grep { $_->{op} } @log;
	my %count;
	$count{ $_->{op} . ':' . ($_->{ok} ? 'ok' : $_->{state}) }++ for @calls;
	note("$label: " . scalar(@calls) . ' calls: ' . join(', ', map { "$_=$count{$_}" } sort keys %count));

	# the model, from the acknowledged calls
	my %bal = %initial;
	my (%post, %hold, %draw, %cjournal, %acked_refs, %failed_refs, $max_exp);
	my (%temp_active, %decreased);    # line => {ref => amount}; line => an end seen
	my (%pend, %fhold);    # money holds: pending transfers and funds holds
	my (%block, %block_changes);    # each account's block, its acknowledged changes
	my $cj = sub {
		my ($op, $r, $lid, @d) = @_;
		for my $n (nodes_of($lid))
		{
			# a batched hot line's slice entries are the worker's batches
			next if $line_by_id{$n}{batched};
			my $k = "$op $r $n";
			die "credit journal key $k twice in the model" if $cjournal{$k};
			$cjournal{$k} = join('/', @d, 1);
		}
	};
	for my $c (@calls)
	{
		my $r = $c->{ref};
		if (!$c->{ok})
		{
			$failed_refs{$r} = 1 if defined $r && $c->{fresh};
			next;
		}
		$acked_refs{$r} = 1 if defined $r;
		my $e = $c->{eff} or next;
		if ($c->{op} =~ /^(transfer|entry|reversal)$/)
		{
			$post{$r} = { id => $c->{id}, kind => $e->{kind}, reverses => $e->{reverses}, legs => $e->{legs} };
			for my $leg (@{ $e->{legs} })
			{
				my $a = $acct_by_id{ $leg->[0] };
				$bal{ $leg->[0] } += (($leg->[1] eq 'C') == ($a->{side} eq 'credit') ? 1 : -1) * $leg->[2];
			}
		}
		elsif ($c->{op} eq 'pending')
		{
			$pend{$r} = { id => $c->{id}, debit => $e->{debit}, credit => $e->{credit},
				amount => $e->{amount}, posted => 0, status => 'pending', exp_us => $e->{exp_us} };
			$max_exp = $e->{exp_us} if defined $e->{exp_us} && (!defined $max_exp || $e->{exp_us} > $max_exp);
		}
		elsif ($c->{op} eq 'post')
		{
			my $p = $pend{ $e->{pending} };
			$p->{posted} += $e->{amount};
			$p->{status} = 'posted' if $e->{closes};
			$post{$r} = { id => $c->{id}, kind => 'transfer', legs => $e->{legs} };
			for my $leg (@{ $e->{legs} })
			{
				my $a = $acct_by_id{ $leg->[0] };
				$bal{ $leg->[0] } += (($leg->[1] eq 'C') == ($a->{side} eq 'credit') ? 1 : -1) * $leg->[2];
			}
		}
		elsif ($c->{op} eq 'void')
		{
			$pend{ $e->{pending} }{status} = 'voided';
		}
		elsif ($c->{op} eq 'block')
		{
			$block{ $e->{account} } = $e->{block};
			$block_changes{ $e->{account} } += $e->{changed};
		}
		elsif ($c->{op} eq 'hold_funds')
		{
			$fhold{$r} = { id => $c->{id}, account => $e->{account}, amount => $e->{amount}, released => 0,
				status => 'open', exp_us => $e->{exp_us} };
			$max_exp = $e->{exp_us} if defined $e->{exp_us} && (!defined $max_exp || $e->{exp_us} > $max_exp);
		}
		elsif ($c->{op} eq 'release_funds')
		{
			my $h = $fhold{ $e->{hold} };
			$h->{released} += $e->{amount};
			$h->{status} = 'released' if $h->{released} == $h->{amount};
		}
		elsif ($c->{op} eq 'freeze')
		{
			$hold{$r} = { id => $c->{id}, line => $e->{line}, amount => $e->{amount}, exp_us => $e->{exp_us},
				U => 0, S => 0, R => 0 };
			$max_exp = $e->{exp_us} if defined $e->{exp_us} && (!defined $max_exp || $e->{exp_us} > $max_exp);
			$cj->('freeze', $r, $e->{line}, $e->{amount}, 0, 0);
		}
		elsif ($c->{op} eq 'temp_limit' || $c->{op} eq 'temp_limit_end')
		{
			# one zero-delta entry on the line's own chain (slice 0)
			$cj->($c->{op}, $r, $e->{line}, 0, 0, 0);
			if ($c->{op} eq 'temp_limit') { $temp_active{ $e->{line} }{$r} = $e->{amount}; }
			else
			{
				delete $temp_active{ $e->{line} }{$r};
				$decreased{ $e->{line} } = 1;
			}
		}
		elsif ($c->{op} eq 'unfreeze')
		{
			my $h = $hold{ $e->{hold} };
			$h->{U} += $e->{amount};
			$cj->('unfreeze', $r, $h->{line}, -$e->{amount}, 0, 0);
		}
		elsif ($c->{op} eq 'use')
		{
			my $h = $hold{ $e->{hold} };
			$h->{S} += $e->{amount};
			$h->{R} += $e->{rest};
			$draw{$r} = { id => $c->{id}, line => $h->{line}, amount => $e->{amount}, returned => 0,
				hold => $h->{id} };
			$cj->('use', $r, $h->{line}, -($e->{amount} + $e->{rest}), $e->{amount}, 0);
		}
		elsif ($c->{op} eq 'use_direct')
		{
			$draw{$r} = { id => $c->{id}, line => $e->{line}, amount => $e->{amount}, returned => 0,
				hold => '' };
			$cj->('use', $r, $e->{line}, 0, $e->{amount}, 0);
		}
		elsif ($c->{op} eq 'return')
		{
			my $d = $draw{ $e->{draw} };
			$d->{returned} += $e->{amount};
			$cj->('return', $r, $d->{line}, 0, -$e->{amount}, $e->{amount});
		}
		elsif ($c->{op} eq 'disburse' || $c->{op} eq 'repay')
		{
			# lending: the credit half as use_direct / return, the money
			# half a transfer under the same reference (its id is not the
			# call's result: taken from the ledger below)
			if ($c->{op} eq 'disburse')
			{
				$draw{$r} = { id => $c->{id}, line => $e->{line}, amount => $e->{amount}, returned => 0,
					hold => '' };
				$cj->('use', $r, $e->{line}, 0, $e->{amount}, 0);
			}
			else
			{
				my $d = $draw{ $e->{draw} };
				$d->{returned} += $e->{amount};
				$cj->('return', $r, $d->{line}, 0, -$e->{amount}, $e->{amount});
			}
			$post{$r} = { id => undef, kind => 'transfer', legs => $e->{legs} };
			for my $leg (@{ $e->{legs} })
			{
				my $a = $acct_by_id{ $leg->[0] };
				$bal{ $leg->[0] } += (($leg->[1] eq 'C') == ($a->{side} eq 'credit') ? 1 : -1) * $leg->[2];
			}
		}
	}
	delete $failed_refs{$_} for keys %acked_refs;

	my $dbh = db_connect('model-check') or die "cannot connect: $DBI::errstr";

	# Let every expiring hold fall due, release them, drain the buffers.
	if (defined $max_exp)
	{
		sleep 0.05 while time * 1e6 < $max_exp + 50_000;
	}
	my $deadline = time + 60;
	while (1)
	{
		q1($dbh, 'SELECT creditledger.credit_expire_holds()');
		q1($dbh, 'SELECT creditledger.expire_pending()');
		last if q1($dbh, q{SELECT count(*) = 0 FROM creditledger.credit_holds
		                    WHERE status = 'expired' AND remaining > 0})
		  && q1($dbh, q{SELECT count(*) = 0 FROM creditledger.pending_transfers
		                 WHERE status = 'pending' AND expires_at <= now()})
		  && q1($dbh, q{SELECT count(*) = 0 FROM creditledger.funds_holds
		                 WHERE status = 'open' AND expires_at <= now()});
		die "holds due do not get released" if time > $deadline;
		sleep 0.1;
	}
	q1($dbh, 'SELECT creditledger.flush()');
	until (q1($dbh, 'SELECT coalesce(sum(buffered_count), 0) = 0 FROM creditledger.accounts'))
	{
		die "buffers do not drain" if time > $deadline;
		q1($dbh, 'SELECT creditledger.flush()');
		sleep 0.1;
	}

	my $compare = sub {
		my ($name, $got, $exp) = @_;
		my @bad;
		my %keys = map { $_ => 1 } (keys %$got, keys %$exp);
		for my $k (sort keys %keys)
		{
			my $g = $got->{$k} // '<none>';
			my $x = $exp->{$k} // '<none>';
			push @bad, "$k: database $g, model $x" if $g ne $x;
		}
		check(!@bad, "$label: $name",
			join("\n", @bad[ 0 .. min(19, $#bad) ]) . (@bad > 20 ? "\n... " . scalar(@bad) . ' mismatches' : ''));
	};

	# balances
	my (%got, %exp);
	for my $row (@{ qall($dbh, 'SELECT account_id, creditledger.balance(account_id), buffered_count FROM creditledger.accounts') })
	{
		$got{"$acct_by_id{$row->[0]}{code}"} = "$row->[1] (buffered $row->[2])";
	}
	$exp{ $acct_by_id{$_}{code} } = "$bal{$_} (buffered 0)" for keys %bal;
	$compare->('every account balance equals the model', \%got, \%exp);

	# transfers: every acknowledged one with its id, kind and original
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT t.voucher, t.transfer_id, t.kind, o.voucher
	                               FROM creditledger.transfers t
	                               LEFT JOIN creditledger.transfers o ON o.transfer_id = t.reverses
	                              WHERE t.voucher NOT LIKE 'creditledger:%' AND t.voucher NOT LIKE 'setup-%'}) })
	{
		$got{ $row->[0] } = join('/', $row->[1], $row->[2], $row->[3] // '');
	}
	$exp{$_} = join('/', $post{$_}{id} // (split m{/}, $got{$_} // '?')[0], $post{$_}{kind},
		$post{$_}{reverses} // '') for keys %post;
	$compare->('the transfers are exactly the acknowledged postings', \%got, \%exp);

	# journal: net amount per transfer and account
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT voucher, account_id,
	                                    sum(CASE WHEN side = 'D' THEN amount ELSE -amount END)
	                               FROM creditledger.journal
	                              WHERE voucher NOT LIKE 'creditledger:%' AND voucher NOT LIKE 'setup-%'
	                              GROUP BY 1, 2}) })
	{
		$got{"$row->[0] $acct_by_id{$row->[1]}{code}"} = $row->[2];
	}
	for my $r (keys %post)
	{
		for my $leg (@{ $post{$r}{legs} })
		{
			$exp{"$r $acct_by_id{$leg->[0]}{code}"} += $leg->[1] eq 'D' ? $leg->[2] : -$leg->[2];
		}
	}
	$compare->('the journal holds every leg of every acknowledged posting, nothing else', \%got, \%exp);

	# money holds: every pending transfer and funds hold, each account's
	# held and available (an expiring one left open is expired by now)
	my %held;
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT voucher, pending_id, debit_account, credit_account, amount, posted,
	                                    remaining, status FROM creditledger.pending_transfers}) })
	{
		$got{ $row->[0] } = join('/', @$row[ 1 .. 7 ]);
	}
	for my $r (keys %pend)
	{
		my $p = $pend{$r};
		$p->{status} = 'expired' if $p->{status} eq 'pending' && defined $p->{exp_us};
		my $rem = $p->{status} eq 'pending' ? $p->{amount} - $p->{posted} : 0;
		$exp{$r} = join('/', $p->{id}, $p->{debit}, $p->{credit}, $p->{amount}, $p->{posted}, $rem, $p->{status});
		for ([ $p->{debit}, 'D' ], [ $p->{credit}, 'C' ])
		{
			$held{ $_->[0] } += $rem if ($_->[1] eq 'D') == ($acct_by_id{ $_->[0] }{side} eq 'credit');
		}
	}
	$compare->('every pending transfer (id/debit/credit/amount/posted/remaining/status) equals the model',
		\%got, \%exp);
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT ref, hold_id, account_id, amount, released, remaining, status
	                               FROM creditledger.funds_holds}) })
	{
		$got{ $row->[0] } = join('/', @$row[ 1 .. 6 ]);
	}
	for my $r (keys %fhold)
	{
		my $h = $fhold{$r};
		$h->{status} = 'expired' if $h->{status} eq 'open' && defined $h->{exp_us};
		my $rem = $h->{status} eq 'open' ? $h->{amount} - $h->{released} : 0;
		$exp{$r} = join('/', $h->{id}, $h->{account}, $h->{amount}, $h->{released}, $rem, $h->{status});
		$held{ $h->{account} } += $rem;
	}
	$compare->('every funds hold (id/account/amount/released/remaining/status) equals the model', \%got, \%exp);
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, 'SELECT account_id, held, available FROM creditledger.accounts') })
	{
		$got{ $acct_by_id{ $row->[0] }{code} } = "held $row->[1] available $row->[2]";
	}
	for my $id (keys %bal)
	{
		my $h = $held{$id} // 0;
		$exp{ $acct_by_id{$id}{code} } = "held $h available " . ($bal{$id} - $h);
	}
	$compare->('every account\'s held and available equal the model', \%got, \%exp);

	# blocks: each account's block, and one 'block' hold chain entry per
	# acknowledged change
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, 'SELECT account_id, block FROM creditledger.accounts') })
	{
		$got{ $acct_by_id{ $row->[0] }{code} } = $row->[1];
	}
	$exp{ $acct_by_id{$_}{code} } = $block{$_} // 'none' for keys %bal;
	$compare->('every account\'s block equals the model', \%got, \%exp);
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT account_id, count(*), count(DISTINCT (sub_account, version))
	                               FROM creditledger.hold_journal WHERE op = 'block' GROUP BY 1}) })
	{
		$got{ $acct_by_id{ $row->[0] }{code} } = "$row->[1] entries, $row->[2] distinct";
	}
	for my $id (grep { $block_changes{$_} } keys %block_changes)
	{
		$exp{ $acct_by_id{$id}{code} } = "$block_changes{$id} entries, $block_changes{$id} distinct";
	}
	$compare->('the block entries of the hold chains are exactly the acknowledged changes', \%got, \%exp);

	# holds
	my %final_rem;
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT ref, hold_id, line_id, amount, remaining, used_amount,
	                                    released_amount, status FROM creditledger.credit_holds}) })
	{
		$got{ $row->[0] } = join('/', @$row[ 1 .. 7 ]);
	}
	my @over = grep { $hold{$_}{U} + $hold{$_}{S} + $hold{$_}{R} > $hold{$_}{amount} } sort keys %hold;
	check(!@over, "$label: no hold had more acknowledged unfreezes and uses than its amount",
		join("\n", map { "$_: amount $hold{$_}{amount}, unfrozen $hold{$_}{U}, used $hold{$_}{S}, released $hold{$_}{R}" } @over));
	for my $r (keys %hold)
	{
		my $h = $hold{$r};
		my $rem = $h->{amount} - $h->{U} - $h->{S} - $h->{R};
		my ($remaining, $released, $status);
		if (defined $h->{exp_us} && $rem > 0)
		{
			($remaining, $released, $status) = (0, $h->{U} + $h->{R} + $rem, 'expired');
			$cjournal{"expire $r $_"} = join('/', -$rem, 0, 0, 1) for nodes_of($h->{line});
		}
		else
		{
			($remaining, $released) = ($rem, $h->{U} + $h->{R});
			$status = $rem > 0 ? 'open' : $h->{S} > 0 ? 'used' : 'released';
		}
		$final_rem{$r} = $remaining;
		$exp{$r} = join('/', $h->{id}, $h->{line}, $h->{amount}, $remaining, $h->{S}, $released, $status);
	}
	$compare->('every hold (id/line/amount/remaining/used/released/status) equals the model', \%got, \%exp);

	# drawdowns
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT ref, drawdown_id, line_id, coalesce(hold_id::text, ''), amount,
	                                    outstanding, returned FROM creditledger.credit_drawdowns}) })
	{
		$got{ $row->[0] } = join('/', @$row[ 1 .. 6 ]);
	}
	for my $r (keys %draw)
	{
		my $d = $draw{$r};
		$exp{$r} = join('/', $d->{id}, $d->{line}, $d->{hold}, $d->{amount},
			$d->{amount} - $d->{returned}, $d->{returned});
	}
	$compare->('every drawdown (id/line/hold/amount/outstanding/returned) equals the model', \%got, \%exp);

	# lines: own and descendants' holds and drawdowns, each once
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, 'SELECT line_id, frozen, used, returned FROM creditledger.credit_lines') })
	{
		$got{ $line_by_id{ $row->[0] }{code} } = join('/', @$row[ 1 .. 3 ]);
	}
	my %tot;
	for my $r (keys %hold)
	{
		$tot{$_}[0] += $final_rem{$r} for nodes_of($hold{$r}{line});
	}
	for my $r (keys %draw)
	{
		for (nodes_of($draw{$r}{line}))
		{
			$tot{$_}[1] += $draw{$r}{amount} - $draw{$r}{returned};
			$tot{$_}[2] += $draw{$r}{returned};
		}
	}
	for my $id (keys %line_by_id)
	{
		$exp{ $line_by_id{$id}{code} } = join('/', map { $tot{$id}[$_] // 0 } 0 .. 2);
	}
	$compare->('every line (frozen/used/returned) equals the model', \%got, \%exp);

	# temporary limits: each line's active sum, and the lines left over
	# their limit by an early end (reported by the warning rule
	# credit_over_limit_after_decrease, which the BCP checks below leave
	# to this comparison)
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT line_id, temporary_limit,
	                                    available < 0 AND limit_decreased_at IS NOT NULL
	                               FROM creditledger.credit_lines}) })
	{
		$got{ $line_by_id{ $row->[0] }{code} } = "$row->[1] " . ($row->[2] ? 'over' : 'within');
	}
	for my $id (keys %line_by_id)
	{
		my $t = 0;
		$t += $_ for values %{ $temp_active{$id} // {} };
		my $avail = $line_def{ $line_by_id{$id}{code} }[0] + $t - ($tot{$id}[0] // 0) - ($tot{$id}[1] // 0);
		$exp{ $line_by_id{$id}{code} } = "$t " . ($decreased{$id} && $avail < 0 ? 'over' : 'within');
	}
	$compare->('every line\'s active temporary limits, and whether an early end left it over its limit, equal the model',
		\%got, \%exp);

	# lending: per lending line, the model's used = the line's used = its
	# receivable's balance
	(%got, %exp) = ();
	for my $row (@{ qall($dbh, q{SELECT l.code, l.used, b.balance
	                               FROM creditledger.credit_line_accounts x
	                               JOIN creditledger.credit_lines l ON l.line_id = x.line_id
	                               JOIN creditledger.accounts b ON b.account_id = x.receivable_account}) })
	{
		$got{ $row->[0] } = "$row->[1]/$row->[2]";
	}
	for my $id (grep { $line_by_id{$_}{code} =~ /^cl:lend:/ } keys %line_by_id)
	{
		my $u = $tot{$id}[1] // 0;
		$exp{ $line_by_id{$id}{code} } = "$u/$u";
	}
	$compare->('every lending line\'s used and its receivable\'s balance equal the model', \%got, \%exp);

	# credit journal: deltas per operation and node
	(%got) = ();
	for my $row (@{ qall($dbh, q{SELECT op, ref, line_id, sum(frozen_delta), sum(used_delta),
	                                    sum(returned_delta), count(*)
	                               FROM creditledger.credit_journal WHERE ref ~ '^w[0-9]+p'
	                              GROUP BY 1, 2, 3}) })
	{
		$got{"$row->[0] $row->[1] $row->[2]"} = join('/', @$row[ 3 .. 6 ]);
	}
	$compare->('the credit journal has one entry per node of every acknowledged credit call, nothing else',
		\%got, \%cjournal);

	# refused calls left nothing
	my %present = map { $_->[0] => 1 } @{ qall($dbh, q{
		SELECT voucher FROM creditledger.transfers
		UNION SELECT ref FROM creditledger.credit_holds
		UNION SELECT ref FROM creditledger.credit_drawdowns
		UNION SELECT ref FROM creditledger.credit_journal
		UNION SELECT voucher FROM creditledger.ledger_pending_transfers
		UNION SELECT ref FROM creditledger.ledger_funds_holds
		UNION SELECT ref FROM creditledger.hold_operations}) };
	my @left = sort grep { $present{$_} } keys %failed_refs;
	check(!@left, "$label: no refused call left a trace (" . scalar(keys %failed_refs) . ' refused references)',
		join("\n", @left[ 0 .. min(19, $#left) ]));

	# chains and BCP
	my $vc = qall($dbh, 'SELECT account_id, sub_account, version, problem, line_id FROM creditledger.verify_chain()');
	check(!@$vc, "$label: verify_chain() returns no rows",
		join("\n", map { join(' ', map { $_ // 'NULL' } @$_) } @$vc[ 0 .. min(19, $#$vc) ]));
	my $bcp = qall($dbh, q{SELECT rule, status, mismatches, sample
	                         FROM creditledger.bcp_run(record => false)
	                        WHERE status <> 'pass' AND rule <> 'credit_over_limit_after_decrease'});
	check(!@$bcp, "$label: every BCP rule passes",
		join("\n", map { join(' ', map { $_ // 'NULL' } @$_) } @$bcp));

	# the batched hot line's pending slice changes journaled: nothing
	# pending, chains intact, every rule still passes
	q1($dbh, 'SELECT creditledger.credit_settle_hot_lines()');
	my $left = q1($dbh, q{SELECT count(*) FROM creditledger.credit_line_slices
	                       WHERE pending_since IS NOT NULL
	                          OR (pending_frozen, pending_used, pending_returned) <> (0, 0, 0)});
	$vc = qall($dbh, 'SELECT account_id, sub_account, version, problem, line_id FROM creditledger.verify_chain()');
	$bcp = qall($dbh, q{SELECT rule, status, mismatches, sample
	                      FROM creditledger.bcp_run(record => false)
	                        WHERE status <> 'pass' AND rule <> 'credit_over_limit_after_decrease'});
	check($left == 0 && !@$vc && !@$bcp,
		"$label: settled, no slice has anything pending, chains intact, every rule passes",
		"pending slices $left\n" . join("\n", map { join(' ', map { $_ // 'NULL' } @$_) } @$vc, @$bcp));
	$dbh->disconnect;
	return \@calls;
}

###########################################################################
# Phase 1: operations, quiesce, check
###########################################################################

my $t0 = time;
check(wait_marks(1, 600), 'phase 1: every worker finished its operations');
note(sprintf('phase 1 took %.1f s', time - $t0));
my $calls1 = check_model('phase 1', 1);
my @lost1 = grep { ($_->{ev} // '') eq 'conn_lost' } map { read_log($_) } 1 .. $NW;
check(!@lost1, 'phase 1: no session lost its connection',
	join("\n", map { "$_->{state} $_->{err}" } @lost1[ 0 .. min(9, $#lost1) ]));

###########################################################################
# Phase 2: operations with a kill -9 of the postmaster in the middle
###########################################################################

# crash: SIGKILL to the postmaster, wait until its children have exited
# (a backend finishes its statement, then notices), start again.
sub children_of
{
	my ($ppid) = @_;
	my @kids;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open(my $fh, '<', $stat) or next;
		my $s = <$fh>;
		close $fh;
		next unless defined $s && $s =~ /^(\d+) \(.*\) \S (\d+) /s;
		push @kids, $1 if $2 == $ppid;
	}
	return @kids;
}

sub alive
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $s = <$fh>;
	close $fh;
	return 0 unless defined $s && $s =~ /\) (\S) /s;
	return $1 ne 'Z';
}

my $t2   = time;
my $base = count_ops();
open(my $go, '>', "$dir/go2") or die "go2: $!";
close $go;

my $half = int($NW * $K / 2);
my $crashed = 0;
my $deadline = time + 600;
while (time < $deadline)
{
	reap();
	my $n = count_ops() - $base;
	if ($n >= $half || keys %exit_code == $NW)
	{
		my $pm = $node->{_pid};
		my @kids = children_of($pm);
		note("kill -9 of the postmaster (pid $pm, " . scalar(@kids) . " children) after $n phase-2 calls");
		$node->kill9;
		# the new postmaster refuses to start while the old one's pid
		# exists (even as a zombie) or its children keep shared memory
		my $gone_by = time + 60;
		sleep 0.05 while (kill(0, $pm) || grep { alive($_) } @kids) && time < $gone_by;
		my @left = grep { alive($_) } @kids;
		push @left, $pm if kill(0, $pm);
		check(!@left, 'every server process exited after the postmaster was killed', "still there: @left");
		$node->start;
		$crashed = 1;
		last;
	}
	sleep 0.05;
}
check($crashed, 'phase 2: the postmaster was killed in the middle of the operations');
check(wait_marks(2, 600), 'phase 2: every worker finished its operations');
while (keys %exit_code < $NW && time < $deadline)
{
	reap();
	sleep 0.1;
}
for my $w (1 .. $NW)
{
	check(defined $exit_code{$w} && $exit_code{$w} == 0, "worker $w exited cleanly",
		'exit code ' . ($exit_code{$w} // 'none (still running)'));
}
note(sprintf('phase 2 took %.1f s', time - $t2));

my $calls = check_model('phase 2 (after kill -9)', 2);
my @lost = grep { ($_->{ev} // '') eq 'conn_lost' } map { read_log($_) } 1 .. $NW;
my @retried = grep { $_->{retries} } @$calls;
note('connections lost in the crash: ' . scalar(@lost)
	  . '; calls reissued after it: ' . scalar(@retried)
	  . ' (' . join(', ', map { "$_->{op} $_->{ref}=" . ($_->{ok} ? 'ok' : $_->{state}) } @retried) . ')');
check(scalar(@lost) > 0, 'the crash cut off sessions that then reconnected');
like(slurp_file($node->logfile), qr/database system was interrupted|database system was not properly shut down/,
	'the server went through crash recovery');

$node->stop;
done_testing();
