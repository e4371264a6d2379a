# Every SQL string in the C sources names its functions with their schema
# (CVE-2018-1058; CONTRACT.md "Security model", ENGINEERING.md).
#
# Reads every src/*.c, joins each run of adjacent string literals, and for
# each one that is SQL (starts with WITH, SELECT, INSERT, UPDATE or DELETE)
# checks that:
#   1. every function call is qualified (pg_catalog.name( or
#      creditledger.name(); SQL keywords and the column lists of aliases and
#      CTEs, "AS b(id)", "RECURSIVE down(id)", are not calls);
#   2. no construct looks an operator up by name without a way to qualify
#      it: IN (...), NOT IN, USING (...), IS [NOT] DISTINCT FROM, BETWEEN,
#      LIKE (write OPERATOR(pg_catalog.=) ANY (...) and the like instead).
# The security audit of 0.3 found two unqualified unnest calls and an IN in
# the credit engine's hold expiry (run by the worker, so harmless only
# while its search_path stays pinned).  No server needed.

use strict;
use warnings;

use File::Basename qw(basename dirname);
use Test::More;

my $src = dirname(__FILE__) . '/../../src';
my @files = sort glob("$src/*.c");
ok(@files > 10, 'the sources are found') or BAIL_OUT("no sources under $src");

my %keyword = map { $_ => 1 } qw(
  select from where and or not in exists values insert into update set delete
  returning on conflict do join left right inner outer cross lateral union all
  distinct order by group having limit offset for case when then else end as
  is null true false any some array with materialized recursive coalesce
  nullif greatest least row cast filter over partition excluded default only
  operator);

my ($statements, @unqualified, @by_name) = (0);
for my $f (@files)
{
	my $file = basename($f);
	open my $fh, '<', $f or die "$f: $!";
	my $text = do { local $/; <$fh> };
	close $fh;
	# comments out (a literal never holds "/*" in these sources)
	$text =~ s{/\*.*?\*/}{}gs;
	while ($text =~ /((?:"(?:[^"\\\n]|\\.)*"\s*)+)/g)
	{
		my $run = $1;
		my $sql = join('', $run =~ /"((?:[^"\\\n]|\\.)*)"/g);
		next unless $sql =~ /^\s*(?:WITH|SELECT|INSERT|UPDATE|DELETE)\b/;
		$statements++;
		while ($sql =~ /((?:\b\w+\s+)?)([A-Za-z_][\w.]*)\s*\(/g)
		{
			my ($before, $name) = ($1, $2);
			next if $name =~ /^(?:pg_catalog|creditledger)\./;
			next if $keyword{ lc $name };
			next if $before =~ /^(?:AS|RECURSIVE)\s+$/i;    # alias column list
			push @unqualified, "$file: $name( in: $sql";
		}
		for my $re (qr/\bIN\s*\(/i, qr/\bNOT\s+IN\b/i, qr/\bUSING\s*\(/i,
			qr/\bIS\s+(?:NOT\s+)?DISTINCT\b/i, qr/\bBETWEEN\b/i, qr/\bI?LIKE\b/i)
		{
			push @by_name, "$file: $re in: $sql" if $sql =~ $re;
		}
	}
}

ok($statements > 100, "the SQL strings are found ($statements)");
is(scalar(@unqualified), 0, 'every function called in SQL from C is schema-qualified')
  or diag(join("\n", @unqualified));
is(scalar(@by_name), 0, 'no SQL from C looks an operator up by name (IN, USING, DISTINCT, BETWEEN, LIKE)')
  or diag(join("\n", @by_name));

done_testing();
