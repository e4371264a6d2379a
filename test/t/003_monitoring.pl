# Monitoring: metrics(), the monitoring/ files, the real postgres_exporter.
#
#  (a) a node with the library preloaded (its worker paused, so flushes are
#      ours and the counts exact) runs a known workload: transfers, one
#      refused with LD001, one with LD004, a replay, a buffered account
#      whose code needs escaping, and a flush;
#  (b) metrics() reports exactly that workload in the Prometheus text
#      format, HELP and TYPE once per family, every sample with a value,
#      ends with a newline, and `promtool check metrics` accepts it without
#      a lint remark (before any BCP run: no BCP rule series);
#  (b2) recorded BCP runs: a critical user rule that fails (re-run alone
#      with another mismatch count: the latest run per rule counts), a
#      warning rule that fails, one that ends in an error, a built-in rule
#      disabled after the run; metrics() reports the latest result of each
#      enabled rule, runs, failures and the last run time, and promtool
#      still accepts it;
#  (c) `promtool check rules` and `promtool test rules` pass on
#      monitoring/prometheus; every creditledger_ metric the rules and the
#      Grafana dashboard query is one metrics() exports (the dashboard's
#      queries are valid PromQL);
#  (d) the real prometheus-postgres-exporter, on a free loopback port,
#      connected as a pg_monitor member (plus SELECT (name, enabled) on
#      bcp_rules, as monitoring/README.md says) with monitoring/
#      postgres_exporter/queries.yaml, is scraped once with curl: every query
#      succeeds, the series carry the same names and values as metrics(),
#      the creditledger_bcp_* and credit-alert series the same label sets,
#      promtool accepts the scrape; the alert rules, run by promtool over the
#      scraped BCP series, fire for exactly the failing and erroring rules;
#  (f) after a restart (the worker now flushing and expiring holds): every
#      operation's counters and the errors per kind and per code named in
#      alert_thresholds exist with 0, so five refusals show as an increase()
#      of 5 over two scrapes (promtool); the worker's hold expiries are in
#      stat_workers, not in stat_operations nor in metrics()' calls; a
#      changed alert_thresholds row is in metrics() and in the exporter's
#      scrape;
#  (e) a node without shared_preload_libraries: the API works; the
#      statistics views, stat_reset() and metrics() fail with 55000 and a
#      hint saying how to enable them; the exporter then exports no
#      creditledger_up nor any statistics (what alert
#      CreditledgerStatisticsUnavailable watches), only the table-backed
#      version, credit-alert and BCP series.
#
# promtool (Debian package prometheus) and prometheus-postgres-exporter are
# required: make test installs them; missing, this test fails.

use strict;
use warnings;

use File::Spec;
use FindBin;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root       = File::Spec->rel2abs("$FindBin::RealBin/../..");
my $monitoring = "$root/monitoring";

# find_program NAME: its path in PATH (or /usr/bin, /usr/sbin), else undef.
sub find_program
{
	my ($name) = @_;
	for my $dir (split(/:/, $ENV{PATH} // ''), '/usr/bin', '/usr/sbin')
	{
		return "$dir/$name" if $dir ne '' && -x "$dir/$name";
	}
	return undef;
}

my $promtool = find_program('promtool')
  or BAIL_OUT('promtool not found (Debian package prometheus; make test installs it)');
my $exporter = find_program('prometheus-postgres-exporter')
  or BAIL_OUT('prometheus-postgres-exporter not found (make test installs it)');
my $curl = find_program('curl')
  or BAIL_OUT('curl not found (make test installs it)');

# run CMD, STDIN: run a program; (exit status, stdout, stderr).
sub run
{
	my ($cmd, $in) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run($cmd, '<', \($in // ''), '>', \$out, '2>', \$err,
		IPC::Run::timeout(60));
	return ($? >> 8, $out, $err);
}

# free_port: a TCP port on 127.0.0.1 nobody listens on.
sub free_port
{
	my $s = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1',
		LocalPort => 0,
		Proto     => 'tcp',
		Listen    => 1,
		ReuseAddr => 1) or die "no free port: $!";
	my $port = $s->sockport;
	close($s);
	return $port;
}

# scrape_exporter NODE: start the exporter against NODE's database
# "postgres" as role "exporter", scrape /metrics once, stop it; the body.
sub scrape_exporter
{
	my ($node) = @_;
	my $port = free_port();
	my ($out, $err) = ('', '');
	local $ENV{DATA_SOURCE_NAME} =
	    'host=' . $node->host . ' port=' . $node->port
	  . ' user=exporter dbname=postgres sslmode=disable';
	my $h = IPC::Run::start(
		[
			$exporter,
			"--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$monitoring/postgres_exporter/queries.yaml",
			'--disable-default-metrics', '--disable-settings-metrics',
			'--no-collector.database',   '--no-collector.bgwriter'
		],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	my ($rc, $body, $cerr);
	for (1 .. 100)
	{
		($rc, $body, $cerr) = run(
			[ $curl, '--silent', '--show-error', '--fail', '--max-time', '10',
			  "http://127.0.0.1:$port/metrics" ]);
		last if $rc == 0;
		unless ($h->pumpable)
		{
			$h->finish;
			die "the exporter exited: $err";
		}
		select(undef, undef, undef, 0.2);
	}
	$h->signal('TERM');
	eval { $h->finish; 1 } or $h->kill_kill;
	note "exporter log:\n$err";
	die "no answer from the exporter on 127.0.0.1:$port: $cerr" unless $rc == 0;
	return $body;
}

# families TEXT: { name => type } of the families with a TYPE line.
sub families
{
	my ($text) = @_;
	my %f = $text =~ /^# TYPE (\S+) (\S+)$/mg;
	return \%f;
}

# sample TEXT, NAME, LABELS: the value of the series NAME whose labels
# include every name="value" pair of LABELS (hash), or undef.
sub sample
{
	my ($text, $name, %labels) = @_;
  LINE:
	for my $line (split /\n/, $text)
	{
		next unless $line =~ /^\Q$name\E(?:\{(.*)\})? (\S+)$/;
		my ($lbl, $value) = ($1 // '', $2);
		for my $k (keys %labels)
		{
			next LINE unless index($lbl, qq{$k="$labels{$k}"}) >= 0;
		}
		return $value;
	}
	return undef;
}

# series TEXT, PREFIX: { 'name{l1="v1",l2="v2"}' => value } of the samples
# whose name starts with PREFIX, labels sorted, the exporter's "server"
# label left out (metrics() has none).
sub series
{
	my ($text, $prefix) = @_;
	my %s;
	for my $line (split /\n/, $text)
	{
		next unless $line =~ /^(\Q$prefix\E[a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
		my ($name, $lbl, $value) = ($1, $2 // '', $3);
		my @l = grep { !/^server=/ } $lbl =~ /([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")/g;
		$s{ $name . '{' . join(',', sort @l) . '}' } = $value;
	}
	return \%s;
}

###########################################################################
# (a) known workload on a preloaded node
###########################################################################

my $node = PostgreSQL::Test::Cluster->new('monitoring');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'creditledger'
creditledger.database = 'postgres'
creditledger.flush_interval = 0
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION creditledger');
# user BCP rules run by a superuser execute as creditledger_bcp_runner
$node->safe_psql('postgres', 'SELECT creditledger.setup_roles()');
$node->safe_psql('postgres', 'CREATE ROLE exporter LOGIN IN ROLE pg_monitor');
ok( $node->poll_query_until(
		'postgres', q{SELECT state = 'paused' FROM creditledger.stat_workers}),
	'the worker runs, paused (flush_interval = 0)');
$node->safe_psql('postgres', 'SELECT creditledger.stat_reset()');

# A code with a quote and a backslash: label values must be escaped.
my $hot = q{hot "wallet" \ 1};
my ($bank, $alice, $bob, $wallet) = split /\n/, $node->safe_psql(
	'postgres', qq{
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('alice', 'CNY');
SELECT creditledger.open_account('bob', 'CNY');
SELECT creditledger.open_account('$hot', 'CNY', hot_mode => 'buffered');
});
$node->safe_psql(
	'postgres', qq{
SELECT creditledger.transfer('t1', $bank, $alice, 1000);
SELECT creditledger.transfer('t2', $alice, $bob, 300);
SELECT creditledger.transfer('t3', $bank, $wallet, 50);
SELECT creditledger.transfer('t4', $bank, $wallet, 70);
SELECT creditledger.transfer('t1', $bank, $alice, 1000);  -- replay
});
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT creditledger.transfer('t5', $alice, $bob, 5000)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  LD001/, 'workload: an overdraft is refused with LD001');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT creditledger.transfer('t1', $bank, $alice, 999)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  LD004/, 'workload: a reused voucher is refused with LD004');
is($node->safe_psql('postgres', "SELECT creditledger.flush($wallet)"),
	'2', 'workload: flush() applies the two buffered postings');

###########################################################################
# (b) metrics(): content and promtool check metrics
###########################################################################

my $metrics = $node->safe_psql('postgres', 'SELECT creditledger.metrics()') . "\n";
is($node->safe_psql('postgres', q{SELECT right(creditledger.metrics(), 1) = E'\n'}),
	't', 'metrics() ends with a newline');
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM pg_catalog.regexp_split_to_table(
		   creditledger.metrics(), E'\n') l WHERE l ~ '^\s*$'}),
	'1', '... and has no blank line (only the empty string after the last newline)');
is_deeply(
	[ grep { !/^#/ && !/^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})? \S+$/ } split /\n/, $metrics ],
	[], '... and every sample line has a name and a value');

my $file = $node->basedir . '/metrics.prom';
append_to_file($file, $metrics);
my ($rc, $out, $err) = run([ $promtool, 'check', 'metrics' ], $metrics);
is($rc, 0, 'promtool check metrics accepts metrics()');
is($out . $err, '', '... without a lint remark');

my %help = ();
$help{$_}++ for $metrics =~ /^# HELP (\S+) /mg;
my %type = ();
$type{$_}++ for $metrics =~ /^# TYPE (\S+) /mg;
is_deeply(\%help, { map { $_ => 1 } keys %type }, 'one HELP and one TYPE line per family');
is(scalar(grep { !/^creditledger_/ } keys %type), 0, 'every family is named creditledger_*');
my $fam = families($metrics);
is_deeply(
	[ grep { $fam->{$_} eq 'counter' && !/_total$/ } keys %$fam ],
	[], 'every counter ends in _total');
is($fam->{creditledger_operation_duration_seconds}, 'histogram',
	'the latency is a histogram in seconds');

my %t = (operation => 'transfer');
is(sample($metrics, 'creditledger_up'), '1', 'creditledger_up 1');
is(sample($metrics, 'creditledger_operation_calls_total', %t), '7',
	'transfer calls: 7 (5 posted or replayed, 2 refused)');
is(sample($metrics, 'creditledger_operation_errors_total', %t), '2', 'transfer errors: 2');
is(sample($metrics, 'creditledger_operation_calls_total', operation => 'open_account'),
	'4', 'open_account calls: 4');
is(sample($metrics, 'creditledger_operation_calls_total', operation => 'flush'),
	'1', 'flush calls: 1');
is( sample(
		$metrics, 'creditledger_errors_total', %t,
		sqlstate => 'LD001', kind => 'business'),
	'1',
	'errors_total: LD001, business, 1');
is( sample(
		$metrics, 'creditledger_errors_total', %t,
		sqlstate => 'LD004', kind => 'business'),
	'1',
	'errors_total: LD004, business, 1');
is(sample($metrics, 'creditledger_operation_duration_seconds_count', %t),
	'7', 'histogram _count = calls');
is(sample($metrics, 'creditledger_operation_duration_seconds_bucket', %t, le => '+Inf'),
	'7', 'histogram le="+Inf" = calls');
cmp_ok(sample($metrics, 'creditledger_operation_duration_seconds_sum', %t),
	'>', 0, 'histogram _sum > 0');
my @les = $metrics =~
  /^creditledger_operation_duration_seconds_bucket\{operation="transfer",le="([^"]+)"\} \d+$/mg;
my @cum = $metrics =~
  /^creditledger_operation_duration_seconds_bucket\{operation="transfer",le="[^"]+"\} (\d+)$/mg;
is($les[-1], '+Inf', 'the last bucket is le="+Inf"');
is(scalar(@les),
	1 + scalar(split /,/, $node->safe_psql('postgres',
		q{SELECT array_to_string(creditledger.stat_latency_bounds(), ',')})),
	'one bucket per bound, plus +Inf');
is(scalar(grep { $cum[$_] < $cum[ $_ - 1 ] } 1 .. $#cum), 0, 'buckets are cumulative');

my %w = (database => 'postgres', account => q{hot \"wallet\" \\\\ 1});
is(sample($metrics, 'creditledger_hot_account_flushes_total', %w),
	'1', 'hot account (label escaped): 1 flush');
is(sample($metrics, 'creditledger_hot_account_flushed_postings_total', %w),
	'2', 'hot account: 2 postings flushed');
is(sample($metrics, 'creditledger_hot_account_buffered_postings', %w),
	'0', 'hot account: nothing buffered any more');
is(sample($metrics, 'creditledger_hot_account_oldest_buffered_age_seconds', %w),
	'0', 'hot account: oldest buffered age 0 with nothing buffered');
is(sample($metrics, 'creditledger_hot_account_info', %w, hot_mode => 'buffered'),
	'1', 'hot account info carries the mode');
ok(defined sample($metrics, 'creditledger_hot_account_last_flush_timestamp_seconds', %w),
	'hot account: last flush timestamp');
is(sample($metrics, 'creditledger_worker_up', database => 'postgres'), '1', 'worker up');
is(sample($metrics, 'creditledger_worker_state', database => 'postgres'),
	'3', 'worker state 3 (paused)');
cmp_ok(sample($metrics, 'creditledger_worker_cycles_total', database => 'postgres'),
	'>', 0, 'worker cycles counted');
my $now = time();
cmp_ok(
	abs(
		sample($metrics, 'creditledger_worker_last_cycle_timestamp_seconds',
			database => 'postgres') - $now),
	'<', 60,
	'worker last cycle: seconds since the epoch, recent');
unlike($metrics, qr/"t\d"/, 'no voucher in any label');

# BCP before any recorded run; credit alerts before any credit line.
is(sample($metrics, 'creditledger_bcp_runs_total'), '0', 'before any BCP run: bcp_runs_total 0');
is_deeply([ $metrics =~ /^(creditledger_bcp_last_run_timestamp_seconds\b.*)$/mg ],
	[], '... no sample of bcp_last_run_timestamp_seconds (HELP and TYPE only)');
is_deeply(series($metrics, 'creditledger_bcp_rule_'), {}, '... no per-rule series');
is_deeply(
	series($metrics, 'creditledger_bcp_failures_total'),
	{
		'creditledger_bcp_failures_total{severity="critical"}' => '0',
		'creditledger_bcp_failures_total{severity="warning"}'  => '0'
	},
	'... bcp_failures_total 0 for both severities');
my @credit_kinds = qw(expired_with_outstanding expiring_soon over_limit
  suspended_with_holds temporary_limit_overdue utilization_high);
is_deeply(
	series($metrics, 'creditledger_credit_alert_lines'),
	{ map { (qq{creditledger_credit_alert_lines{kind="$_"}} => '0') } @credit_kinds },
	'credit_alert_lines: every kind, 0 without credit lines');

# A pg_monitor member may call it; PUBLIC may not.
$node->safe_psql('postgres',
	'CREATE ROLE nobody LOGIN; GRANT USAGE ON SCHEMA creditledger TO nobody');
is($node->safe_psql('postgres', 'SELECT length(creditledger.metrics()) > 0',
		extra_params => [ '-U', 'exporter' ]),
	't', 'a pg_monitor member may call metrics()');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT creditledger.metrics()',
	extra_params => [ '-U', 'nobody' ]);
like($stderr, qr/permission denied for function metrics/, 'PUBLIC may not');

###########################################################################
# (b2) credit lines and recorded BCP runs
###########################################################################

# Two credit lines in alert: one 95 % used, one expiring tomorrow.
$node->safe_psql(
	'postgres', q{
SELECT creditledger.credit_freeze(creditledger.create_credit_line('cl:high', 'CNY', 1000), 950, 'h1');
SELECT creditledger.create_credit_line('cl:soon', 'CNY', 1000, valid_until => now() + interval '1 day');
});

# User rules: a critical one that fails (2 mismatches), a warning one that
# fails (1), a warning one whose query fails at run time.
$node->safe_psql(
	'postgres', q{
SELECT creditledger.bcp_add_rule('test:critical.fail', 'SELECT 1 AS m UNION ALL SELECT 2', NULL, 'critical');
SELECT creditledger.bcp_add_rule('test:warning-fail', 'SELECT 1 AS m', NULL, 'warning');
SELECT creditledger.bcp_add_rule('test:error',
    'SELECT g FROM pg_catalog.generate_series(1, 1) g WHERE 1 / (g - 1) = 0', NULL, 'warning');
});
my $enabled = $node->safe_psql('postgres',
	'SELECT count(*) FROM creditledger.bcp_rules WHERE enabled');
is($node->safe_psql('postgres', 'SELECT count(*) FROM creditledger.bcp_run()'),
	$enabled, "a recorded BCP run of the $enabled enabled rules");
is( $node->safe_psql(
		'postgres', q{SELECT string_agg(rule || ' ' || status, ', ' ORDER BY rule)
		   FROM creditledger.bcp_results WHERE status <> 'pass'}),
	'test:critical.fail fail, test:error error, test:warning-fail fail',
	'... in which exactly the three user rules do not pass');
# The critical rule changes and runs alone (a second run): its latest result
# counts. A built-in rule, recorded in the first run, is disabled: no series.
$node->safe_psql(
	'postgres', q{
SELECT creditledger.bcp_add_rule('test:critical.fail', 'SELECT 1 AS m UNION ALL SELECT 2 UNION ALL SELECT 3',
                                 NULL, 'critical');
SELECT count(*) FROM creditledger.bcp_run(ARRAY['test:critical.fail']);
SELECT creditledger.bcp_enable_rule('trial_balance', false);
});

$metrics = $node->safe_psql('postgres', 'SELECT creditledger.metrics()') . "\n";
($rc, $out, $err) = run([ $promtool, 'check', 'metrics' ], $metrics);
is($rc, 0, 'after the BCP runs, promtool check metrics accepts metrics()');
is($out . $err, '', '... without a lint remark');
$fam = families($metrics);
is_deeply(
	{ map { $_ => $fam->{$_} } grep { /^creditledger_bcp_/ } keys %$fam },
	{
		creditledger_bcp_runs_total                 => 'counter',
		creditledger_bcp_last_run_timestamp_seconds => 'gauge',
		creditledger_bcp_rule_failing               => 'gauge',
		creditledger_bcp_rule_mismatches            => 'gauge',
		creditledger_bcp_failures_total             => 'counter'
	},
	'the five creditledger_bcp_* families and their types');
is(sample($metrics, 'creditledger_bcp_runs_total'), '2', 'bcp_runs_total 2');
cmp_ok(abs(sample($metrics, 'creditledger_bcp_last_run_timestamp_seconds') - time()),
	'<', 60, 'bcp_last_run_timestamp_seconds: seconds since the epoch, recent');
my $bcp = series($metrics, 'creditledger_bcp_rule_');
my $f   = 'creditledger_bcp_rule_failing';
my $mm  = 'creditledger_bcp_rule_mismatches';
is($bcp->{$f . '{rule="test:critical.fail",severity="critical",status="fail"}'},
	'1', 'rule_failing: the critical rule fails');
is($bcp->{$mm . '{rule="test:critical.fail",severity="critical"}'},
	'3', '... with the mismatches of its latest run (3, not 2)');
is($bcp->{$f . '{rule="test:warning-fail",severity="warning",status="fail"}'},
	'1', 'rule_failing: the warning rule fails');
is($bcp->{$mm . '{rule="test:warning-fail",severity="warning"}'},
	'1', '... with 1 mismatch');
is($bcp->{$f . '{rule="test:error",severity="warning",status="error"}'},
	'1', 'rule_failing: the erroring rule, status error');
ok(!exists $bcp->{$mm . '{rule="test:error",severity="warning"}'},
	'... and no mismatches series for it');
is_deeply([ grep { /rule="trial_balance"/ } keys %$bcp ], [],
	'no series for the disabled rule');
is( scalar(grep { /^\Q$f\E\{/ } keys %$bcp),
	$enabled - 1, 'one rule_failing series per enabled rule');
is_deeply(
	[ sort grep { /^\Q$f\E\{/ && $bcp->{$_} ne '0' } keys %$bcp ],
	[
		$f . '{rule="test:critical.fail",severity="critical",status="fail"}',
		$f . '{rule="test:error",severity="warning",status="error"}',
		$f . '{rule="test:warning-fail",severity="warning",status="fail"}'
	],
	'every other rule passes (0, status="pass")');
is(sample($metrics, 'creditledger_bcp_failures_total', severity => 'critical'),
	'2', 'bcp_failures_total critical 2 (the critical rule in both runs)');
is(sample($metrics, 'creditledger_bcp_failures_total', severity => 'warning'),
	'2', 'bcp_failures_total warning 2 (fail and error)');
is(sample($metrics, 'creditledger_credit_alert_lines', kind => 'utilization_high'),
	'1', 'credit_alert_lines: 1 line utilization_high');
is(sample($metrics, 'creditledger_credit_alert_lines', kind => 'expiring_soon'),
	'1', 'credit_alert_lines: 1 line expiring_soon');

###########################################################################
# (c) alert rules and dashboard
###########################################################################

($rc, $out, $err) = run([ $promtool, 'check', 'rules', "$monitoring/prometheus/alerts.yml" ]);
is($rc, 0, 'promtool check rules monitoring/prometheus/alerts.yml') or diag($out . $err);
($rc, $out, $err) = run([ $promtool, 'test', 'rules', "$monitoring/prometheus/alerts_test.yml" ]);
is($rc, 0, 'promtool test rules monitoring/prometheus/alerts_test.yml') or diag($out . $err);

# exported NAME: NAME is a family metrics() exports (or one of its
# histogram series).
sub exported
{
	my ($name) = @_;
	return 1 if $fam->{$name};
	return ($name =~ /^(.*)_(?:bucket|sum|count)$/ && ($fam->{$1} // '') eq 'histogram');
}

my $rules = slurp_file("$monitoring/prometheus/alerts.yml");
my %in_rules = map { $_ => 1 } map { /\b(creditledger_[a-z_]+)/g } grep { !/^\s*#/ } split /\n/, $rules;
is_deeply([ sort grep { !exported($_) } keys %in_rules ],
	[], 'the alert rules query only metrics metrics() exports');
cmp_ok(scalar(keys %in_rules), '>=', 6, '... (' . join(' ', sort keys %in_rules) . ')');

my $dash = decode_json(slurp_file("$monitoring/grafana/creditledger.json"));
my @exprs;
my $collect;
$collect = sub {
	for my $p (@{ $_[0] })
	{
		push @exprs, map { $_->{expr} } @{ $p->{targets} // [] };
		$collect->($p->{panels}) if $p->{panels};
	}
};
$collect->($dash->{panels});
cmp_ok(scalar(@exprs), '>=', 10, 'the dashboard has queries: ' . scalar(@exprs));
my %in_dash = map { $_ => 1 } map { /\b(creditledger_[a-z_]+)/g } @exprs;
is_deeply([ sort grep { !exported($_) } keys %in_dash ],
	[], 'the dashboard queries only metrics metrics() exports');

# The queries, with Grafana's variables filled in, as recording rules:
# promtool parses every one of them.
my $dash_rules = $node->basedir . '/dashboard_rules.yml';
my $yaml = "groups:\n  - name: dashboard\n    rules:\n";
for my $i (0 .. $#exprs)
{
	(my $e = $exprs[$i]) =~ s/\$__rate_interval/5m/g;
	$e =~ s/\$instance/.*/g;
	$e =~ s/'/''/g;
	$yaml .= "      - record: dashboard:query_$i\n        expr: '$e'\n";
}
append_to_file($dash_rules, $yaml);
($rc, $out, $err) = run([ $promtool, 'check', 'rules', $dash_rules ]);
is($rc, 0, 'every dashboard query is valid PromQL') or diag($out . $err);

###########################################################################
# (d) the real postgres_exporter with monitoring/postgres_exporter
###########################################################################

# pg_monitor alone reads credit_alerts, bcp_results and the rules' names and
# enabled flags: the exporter role needs no grant of its own.
my $scrape = scrape_exporter($node);
is(sample($scrape, 'pg_up'), '1', 'exporter: pg_up 1');
is(sample($scrape, 'pg_exporter_last_scrape_error'), '0',
	'exporter: every query of queries.yaml succeeded');
is(sample($scrape, 'pg_exporter_user_queries_load_error'), '0',
	'exporter: queries.yaml loaded');
is(sample($scrape, 'creditledger_up'), '1', 'exporter: creditledger_up 1');
is(sample($scrape, 'creditledger_operation_calls_total', %t), '7',
	'exporter: transfer calls 7');
is(sample($scrape, 'creditledger_operation_duration_seconds_bucket', %t, le => '+Inf'),
	'7', 'exporter: the latency histogram, with le="+Inf"');
is( sample(
		$scrape, 'creditledger_errors_total', %t,
		sqlstate => 'LD001', kind => 'business'),
	'1',
	'exporter: errors by SQLSTATE and kind');
is(sample($scrape, 'creditledger_hot_account_flushed_postings_total', %w),
	'2', 'exporter: hot account counters (same escaped label)');
is(sample($scrape, 'creditledger_worker_state', database => 'postgres'),
	'3', 'exporter: worker state');

# Same names, same types: one set of rules and one dashboard for both.
my $sfam = families($scrape);
my %with_samples = map { /^(creditledger_[a-z_]+?)(?:_bucket|_sum|_count)?(?:\{| )/ ? ($1 => 1) : () }
  grep { !/^#/ } split /\n/, $metrics;
my %exp_types = map { $_ => $sfam->{$_} } grep { /^creditledger_/ } keys %$sfam;
my %met_types = map { $_ => $fam->{$_} } grep { $with_samples{$_} } keys %$fam;
is_deeply(\%exp_types, \%met_types,
	'the exporter exports the same families, with the same types, as metrics()');
($rc, $out, $err) = run([ $promtool, 'check', 'metrics' ], $scrape);
is($rc, 0, 'promtool check metrics accepts the exporter scrape') or diag($out . $err);

# BCP and credit alerts: the same series (names and label sets, the
# exporter's "server" aside) with the same values.
for my $prefix ('creditledger_bcp_', 'creditledger_credit_alert_lines')
{
	my ($from_sql, $from_exporter) = (series($metrics, $prefix), series($scrape, $prefix));
	is_deeply([ sort keys %$from_exporter ], [ sort keys %$from_sql ],
		"exporter: the same ${prefix}* series (names and labels) as metrics()");
	is_deeply(
		{ map { $_ => 0 + $from_exporter->{$_} } keys %$from_exporter },
		{ map { $_ => 0 + $from_sql->{$_} } keys %$from_sql },
		'... with the same values');
}
cmp_ok(scalar(grep { /^creditledger_bcp_rule_failing\{/ } keys %{ series($scrape, 'creditledger_bcp_') }),
	'>', 3, '... (creditledger_bcp_rule_failing included)');

# The alert rules over the scraped BCP series, held for 30 minutes (the last
# run moved to the test's time 0): at 5 min only the critical rule fires, at
# 20 min the warning one and the erroring one too, nothing else.
my $inst = 'job="postgres",instance="db:9187"';
my $alerts_yml = $node->basedir . '/bcp_alerts_test.yml';
my $yml = "rule_files:\n  - '$monitoring/prometheus/alerts.yml'\n"
  . "evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n";
for my $line (grep { /^creditledger_bcp_(?:rule_failing|rule_mismatches|last_run_timestamp_seconds)[{ ]/ }
	split /\n/, $scrape)
{
	my ($name, $lbl, $value) = $line =~ /^([a-z_]+)(?:\{(.*)\})? (\S+)$/ or next;
	$value = 0 if $name eq 'creditledger_bcp_last_run_timestamp_seconds';
	(my $series = $name . '{' . join(',', grep { $_ ne '' } $lbl // '', $inst) . '}') =~ s/'/''/g;
	$yml .= "      - series: '$series'\n        values: '${value}x30'\n";
}
my $firing = sub {
	my ($at, @alerts) = @_;
	my $t = "      - expr: 'ALERTS{alertstate=\"firing\"}'\n        eval_time: $at\n        exp_samples:\n";
	$t .= "          - labels: 'ALERTS{alertname=\"$_->[0]\",alertstate=\"firing\",$inst,"
	  . "rule=\"$_->[1]\",severity=\"$_->[2]\"}'\n            value: 1\n"
	  for @alerts;
	return $t;
};
$yml .= "    promql_expr_test:\n"
  . $firing->('5m', [ 'CreditledgerBcpRuleFailing', 'test:critical.fail', 'critical' ])
  . $firing->(
	'20m',
	[ 'CreditledgerBcpRuleFailing', 'test:critical.fail', 'critical' ],
	[ 'CreditledgerBcpRuleFailing', 'test:warning-fail', 'warning' ],
	[ 'CreditledgerBcpRuleError',   'test:error',        'warning' ]);
append_to_file($alerts_yml, $yml);
($rc, $out, $err) = run([ $promtool, 'test', 'rules', $alerts_yml ]);
is($rc, 0, 'the BCP alerts fire for exactly the failing and erroring rules of the scrape')
  or diag($out . $err . $yml);

###########################################################################
# (f) after a restart: counters from 0, the worker's own calls, thresholds
###########################################################################

# The worker now works (flushes every 10 ms, expires holds every 200 ms).
$node->append_conf(
	'postgresql.conf', q{
creditledger.flush_interval = 10
creditledger.hold_expiry_interval = '200ms'
});
$node->restart;
ok( $node->poll_query_until(
		'postgres', q{SELECT state NOT IN ('paused', 'starting', 'not started')
		                FROM creditledger.stat_workers}),
	'after the restart the worker runs');

# Right after the restart every operation's series exist, with 0; five
# refusals later their increase over the two scrapes is 5 (Prometheus sees a
# series' first value only as a start: without the 0 the first errors of a
# code would be lost to increase() and rate()).
my $before = $node->safe_psql('postgres', 'SELECT creditledger.metrics()') . "\n";
my %ld001 = (operation => 'transfer', sqlstate => 'LD001', kind => 'business');
my %biz   = (operation => 'transfer', kind => 'business');
is(sample($before, 'creditledger_errors_total', %ld001), '0',
	'after a restart: errors_total{transfer, LD001} exists, 0');
is(sample($before, 'creditledger_operation_errors_by_kind_total', %biz), '0',
	'... and errors by kind {transfer, business}, 0');
is(sample($before, 'creditledger_operation_errors_by_kind_total', operation => 'transfer', kind => 'client'),
	'0', '... and {transfer, client}, 0');
is(sample($before, 'creditledger_operation_calls_total', operation => 'credit_use_direct'),
	'0', '... and the calls of an operation never called');
for my $i (1 .. 5)
{
	($ret, $stdout, $stderr) = $node->psql('postgres',
		"SELECT creditledger.transfer('r$i', $alice, $bob, 1000000)",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($stderr, qr/ERROR:  LD001/, "refusal $i after the restart: LD001");
}
my $after = $node->safe_psql('postgres', 'SELECT creditledger.metrics()') . "\n";
is(sample($after, 'creditledger_errors_total', %ld001), '5', '... errors_total{transfer, LD001} 5');

# The two scrapes, one minute apart, through promtool: increase() is 5.
my $restart_yml = $node->basedir . '/restart_test.yml';
my $restart_series = '';
for my $m ([ 'creditledger_errors_total', %ld001 ],
	[ 'creditledger_operation_errors_by_kind_total', %biz ])
{
	my ($name, %l) = @$m;
	my $lbl = join(',', map { qq{$_="$l{$_}"} } sort keys %l);
	$restart_series .= "      - series: '$name\{$lbl,job=\"postgres\",instance=\"db:9187\"}'\n"
	  . "        values: '" . sample($before, $name, %l) . ' ' . sample($after, $name, %l) . "'\n";
}
append_to_file(
	$restart_yml, qq{rule_files:
  - '$monitoring/prometheus/alerts.yml'
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
$restart_series    promql_expr_test:
      - expr: 'sum(increase(creditledger_errors_total{sqlstate="LD001"}[2m]))'
        eval_time: 1m
        exp_samples:
          - value: 5
      - expr: 'sum(increase(creditledger_operation_errors_by_kind_total{kind="business"}[2m]))'
        eval_time: 1m
        exp_samples:
          - value: 5
});
($rc, $out, $err) = run([ $promtool, 'test', 'rules', $restart_yml ]);
is($rc, 0, 'increase() over the two scrapes around the five refusals is 5')
  or diag($out . $err . slurp_file($restart_yml));

# The worker's hold expiries are its own calls: counted in stat_workers
# (holds_expired), not as calls of credit_expire_holds.
$node->safe_psql(
	'postgres', q{
SELECT creditledger.create_credit_line('mon:line', 'CNY', 1000);
SELECT creditledger.credit_freeze(creditledger.credit_line_id('mon:line'), 10, 'mon:h1',
                                  now() + interval '1 second');
});
ok( $node->poll_query_until(
		'postgres', q{SELECT holds_expired >= 1 FROM creditledger.stat_workers}),
	'the worker expires the hold (stat_workers.holds_expired)');
sleep(1);    # a few more periodic expiry runs
is( $node->safe_psql(
		'postgres', q{SELECT count(*) FROM creditledger.stat_operations
		               WHERE operation = 'credit_expire_holds'}),
	'0', 'the worker\'s credit_expire_holds() calls are not in stat_operations');
$after = $node->safe_psql('postgres', 'SELECT creditledger.metrics()') . "\n";
is(sample($after, 'creditledger_operation_calls_total', operation => 'credit_expire_holds'),
	'0', '... and metrics() counts 0 calls of credit_expire_holds');
cmp_ok(sample($after, 'creditledger_worker_holds_expired_total', database => 'postgres'),
	'>=', 1, '... while creditledger_worker_holds_expired_total counts the expiry');
is(sample($after, 'creditledger_operation_calls_total', operation => 'credit_freeze'),
	'1', '... and the application\'s own credit_freeze() is counted');
# A call by hand is an application call.
$node->safe_psql('postgres', 'SELECT creditledger.credit_expire_holds()');
is( $node->safe_psql(
		'postgres', q{SELECT calls FROM creditledger.stat_operations
		               WHERE operation = 'credit_expire_holds'}),
	'1', 'credit_expire_holds() called by hand counts as one call');

# A changed threshold row shows in metrics() and in the exporter's scrape.
$node->safe_psql('postgres',
	q{UPDATE creditledger.alert_thresholds SET max_per_minute = 17, severity = 'warning'
	   WHERE sqlstate = 'LD004' AND operation = '*'});
$after = $node->safe_psql('postgres', 'SELECT creditledger.metrics()') . "\n";
is( sample(
		$after, 'creditledger_error_threshold_per_minute',
		operation => 'transfer', sqlstate => 'LD004', severity => 'warning'),
	'17',
	'the changed threshold row is in metrics()');
$scrape = scrape_exporter($node);
is( sample(
		$scrape, 'creditledger_error_threshold_per_minute',
		operation => 'transfer', sqlstate => 'LD004', severity => 'warning'),
	'17',
	'... and in the exporter\'s scrape');
is(sample($scrape, 'creditledger_errors_total', %ld001), '5',
	'exporter: errors_total{transfer, LD001} 5');
is(sample($scrape, 'creditledger_operation_errors_by_kind_total', %biz), '5',
	'exporter: errors by kind {transfer, business} 5');

$node->stop;

###########################################################################
# (e) without shared_preload_libraries
###########################################################################

my $plain = PostgreSQL::Test::Cluster->new('no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION creditledger');
$plain->safe_psql('postgres', 'CREATE ROLE exporter LOGIN IN ROLE pg_monitor');

for my $q (
	'SELECT * FROM creditledger.stat_operations',
	'SELECT * FROM creditledger.stat_errors',
	'SELECT * FROM creditledger.stat_hot_accounts',
	'SELECT * FROM creditledger.stat_workers',
	'SELECT creditledger.stat_reset()',
	'SELECT creditledger.metrics()')
{
	($ret, $stdout, $stderr) =
	  $plain->psql('postgres', $q, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like(
		$stderr,
		qr/ERROR:  55000: creditledger statistics are not available.*HINT:  Add creditledger to shared_preload_libraries and restart the server\./s,
		"without preload, $q: 55000 with the hint");
}

is( $plain->safe_psql(
		'postgres', q{
SELECT creditledger.open_account('bank', 'CNY', 'debit', NULL);
SELECT creditledger.open_account('alice', 'CNY');
SELECT creditledger.open_account('hot', 'CNY', hot_mode => 'buffered');
SELECT creditledger.transfer('p1', creditledger.account_id('bank'),
                             creditledger.account_id('alice'), 500);
SELECT creditledger.transfer('p2', creditledger.account_id('alice'),
                             creditledger.account_id('hot'), 200);
SELECT creditledger.flush(creditledger.account_id('hot'));
SELECT creditledger.balance(creditledger.account_id('alice'))
       || ' ' || creditledger.balance(creditledger.account_id('hot'));
}),
	"1\n2\n3\n1\n2\n1\n300 200",
	'without preload the API works (accounts, transfers, buffered account, flush)');
($ret, $stdout, $stderr) = $plain->psql('postgres',
	'SELECT * FROM creditledger.stat_hot_accounts',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/ERROR:  55000:.*HINT:  Add creditledger to shared_preload_libraries/s,
	'... and stat_hot_accounts still says how to enable the statistics');

$scrape = scrape_exporter($plain);
is(sample($scrape, 'pg_up'), '1', 'exporter without preload: PostgreSQL is up');
is(sample($scrape, 'creditledger_up'), undef,
	'... but no creditledger_up (CreditledgerStatisticsUnavailable fires)');
is_deeply(
	[ sort grep { /^creditledger_/ } keys %{ families($scrape) } ],
	[
		qw(creditledger_bcp_failures_total creditledger_bcp_runs_total
		  creditledger_blocked_accounts creditledger_build_info
		  creditledger_credit_alert_lines creditledger_funds_held_amount
		  creditledger_funds_holds creditledger_funds_holds_expired_last_minute
		  creditledger_pending_amount creditledger_pending_expired_last_minute
		  creditledger_pending_oldest_age_seconds creditledger_pending_transfers)
	],
	'... nor any statistics: only what tables hold (version, credit alerts, BCP results, money holds)');
is(sample($scrape, 'pg_exporter_last_scrape_error'), '1', '... and the scrape reports the errors');

$plain->stop;

done_testing();
