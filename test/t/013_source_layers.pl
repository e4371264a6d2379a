# The source's dependencies point one way (README, "Source layout").
#
# Reads every src/*.c and src/*.h, takes a module to be a file's name
# without .c or .h, and its dependencies to be the modules whose headers it
# includes ("name.h" includes of src/ headers only).  Checks:
#   1. every module has a layer below (a new file must be placed);
#   2. every include goes to a module of the same layer or a lower one
#      (entry: anything; stats, the leaves, are included by anyone and
#      include only helpers);
#   3. the module graph has no cycle, within a layer too (posting.c and
#      holds.c, or holds.c and lending.c, calling each other by name was
#      such a cycle: the lower one now calls the upper one through a
#      pointer the upper one registers at load).
# No server needed.

use strict;
use warnings;

use File::Basename qw(basename dirname);
use Test::More;

my %layer = (
	# helpers
	(map { $_ => 1 } qw(settings shmem compat errcodes validate spi_plans journal heapwrite rowcache)),
	# statistics: leaves, on the helpers only
	(map { $_ => 1.5 } qw(stats opstats)),
	# mechanisms
	(map { $_ => 2 } qw(lockorder locking chain hold_chain hot hot_bound hot_internal)),
	# the ledger and credit families
	(map { $_ => 3 } qw(posting transfers accounts holds
		  credit credit_admin credit_engine credit_rows credit_limits)),
	# lending, on both families; post_batch, on the ledger and lending
	lending => 4,
	batch => 5,
	# audit
	(map { $_ => 6 } qw(audit_transfers verify verify_scan bcp bcp_run)),
	# the worker
	(map { $_ => 7 } qw(worker worker_bcp)),
	# _PG_init
	creditledger => 8,);

my $src = dirname(__FILE__) . '/../../src';
my @files = (glob("$src/*.c"), glob("$src/*.h"));
ok(@files > 10, 'the sources are found') or BAIL_OUT("no sources under $src");

my %modules = map { (basename($_) =~ s/\.[ch]$//r) => 1 } @files;
my %deps;
for my $f (@files)
{
	my $m = basename($f) =~ s/\.[ch]$//r;
	open my $fh, '<', $f or die "$f: $!";
	while (<$fh>)
	{
		next unless /^\s*#\s*include\s+"([a-z_]+)\.h"/;
		my $d = $1;
		next if $d eq $m || !$modules{$d};
		$deps{$m}{$d} = 1;
	}
	close $fh;
}

my @unplaced = grep { !defined $layer{$_} } sort keys %modules;
is_deeply(\@unplaced, [], 'every module has a layer');

my @upward;
for my $m (sort keys %deps)
{
	next if $m eq 'creditledger';
	for my $d (sort keys %{ $deps{$m} })
	{
		next unless defined $layer{$m} && defined $layer{$d};
		next if $layer{$d} == 1.5 && $layer{$m} != 1;    # anyone above the helpers calls stats
		push @upward, "$m ($layer{$m}) includes $d ($layer{$d})"
		  if $layer{$d} > $layer{$m};
	}
}
is_deeply(\@upward, [], 'no module includes a module of a higher layer');

# a cycle: depth-first search with colours
my (%colour, @cycle);
my $visit;
$visit = sub {
	my ($m, @path) = @_;
	$colour{$m} = 1;
	for my $d (sort keys %{ $deps{$m} || {} })
	{
		return 1 if @cycle;
		if (($colour{$d} // 0) == 1)
		{
			my @p = (@path, $m);
			my ($i) = grep { $p[$_] eq $d } 0 .. $#p;
			@cycle = (@p[ $i .. $#p ], $d);
			return 1;
		}
		$visit->($d, @path, $m) unless $colour{$d};
	}
	$colour{$m} = 2;
	return 0;
};
for my $m (sort keys %modules)
{
	last if @cycle;
	$visit->($m) unless $colour{$m};
}
is(join(' -> ', @cycle), '', 'the module graph has no cycle');

done_testing();
