# creditledger: PGXS build plus the project's own targets.
#
#   make / make install   build and install into the PostgreSQL found by PG_CONFIG
#   make demo             install what is missing, build, run the demo on a throwaway cluster
#   make test             install what is missing, build with -Werror, run pg_regress,
#                         isolation and TAP tests against temporary instances
#   make bench            pgbench ratios on a throwaway cluster (see test/bench)

.DEFAULT_GOAL := all

EXTENSION   = creditledger
MODULE_big  = creditledger
OBJS = \
	src/creditledger.o \
	src/settings.o \
	src/shmem.o \
	src/spi_plans.o \
	src/validate.o \
	src/journal.o \
	src/locking.o \
	src/rowcache.o \
	src/heapwrite.o \
	src/chain.o \
	src/hold_chain.o \
	src/hot.o \
	src/hot_bound.o \
	src/posting.o \
	src/holds.o \
	src/batch.o \
	src/accounts.o \
	src/transfers.o \
	src/verify.o \
	src/verify_scan.o \
	src/audit_transfers.o \
	src/credit.o \
	src/credit_limits.o \
	src/credit_engine.o \
	src/credit_rows.o \
	src/credit_admin.o \
	src/lending.o \
	src/bcp.o \
	src/bcp_run.o \
	src/worker.o \
	src/worker_bcp.o \
	src/stats.o \
	src/opstats.o

# Install and upgrade scripts.  CREATE EXTENSION runs the current script,
# creditledger--0.3.0.sql, assembled from sql/src/ in path order (one
# directory per kind of object, one file per module: see
# sql/src/00_header.sql).  Upgrades: releases up to 0.2.0 are single frozen
# files; the 0.2.0 -> 0.3.0 delta is assembled from one file per concern in
# sql/upgrade-0.3.0/ (applied in file name order).  TAP 007_upgrade proves
# the two paths give the same objects.
DATA = sql/creditledger--0.1.0.sql sql/creditledger--0.1.0--0.2.0.sql
DATA_built = sql/creditledger--0.3.0.sql sql/creditledger--0.2.0--0.3.0.sql
CURRENT_SQL = $(sort $(wildcard $(srcdir)/sql/src/*.sql $(srcdir)/sql/src/*/*.sql))
UPGRADE_0_3_0 = $(sort $(wildcard $(srcdir)/sql/upgrade-0.3.0/*.sql))

PG_CONFIG ?= pg_config

# Warnings: the full set always; -Werror when WERROR=1 (make test sets it).
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(if $(WERROR),-Werror)
PG_CPPFLAGS = -I$(srcdir)/src
# cl_sha256 (journal.c) calls OpenSSL directly when the server is built with it
SHLIB_LINK += $(filter -lcrypto, $(LIBS))

TEST_CONF = --temp-config=$(srcdir)/test/creditledger.conf

REGRESS      = install accounts transfers entries reversal journal hot stats privileges verify credit credit_limits credit_batched bcp security security_03 bulk holds batch batch_bulk lending
REGRESS_OPTS = --temp-instance=tmp_check $(TEST_CONF)

ISOLATION      = opposite_transfers same_voucher double_reversal overdraw_race \
                 buffered_short_debit flush_race late_commit split_gather lock_order_hints \
                 credit_parent_race credit_use_vs_unfreeze credit_use_vs_expiry credit_link_cycle credit_grant_race \
                 credit_same_line_deadlock credit_gather_expire_deadlock bulk_same_account \
                 pending_overdraw pending_post_vs_void pending_post_vs_expiry funds_hold_vs_transfer \
                 block_vs_post pending_same_voucher batch_lock_order batch_vs_single batch_voucher_race credit_hot_same_xact credit_hot_wait_one credit_hot_settle credit_graph_cache \
                 lending_disburse_vs_transfers lending_post_vs_void lending_repay_race lending_post_vs_expiry \
                 split_wait_one split_short_probe lending_receivable_race
ISOLATION_OPTS = --inputdir=test --outputdir=output_iso \
                 --temp-instance=tmp_check_iso $(TEST_CONF)

TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

# The project targets come first: they work before the server headers are
# installed (test/run.sh installs them).
.PHONY: demo test bench
demo test bench:
	bash test/run.sh $@

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

sql/creditledger--0.3.0.sql: $(CURRENT_SQL)
	awk 'FNR == 1 && NR > 1 { print "" } { print }' $^ > $@

sql/creditledger--0.2.0--0.3.0.sql: $(UPGRADE_0_3_0)
	cat $^ > $@

# PGXS tracks no header dependencies: rebuild everything when a header changes.
$(OBJS): $(wildcard src/*.h)
