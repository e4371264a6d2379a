/*
 * settings.h: every creditledger.* setting (settings.c), in one place.
 *
 * The variables are written only by the GUC machinery (postgresql.conf,
 * SET, reloads); the rest of the extension only reads them.  No module
 * defines a setting of its own.
 */
#ifndef CREDITLEDGER_SETTINGS_H
#define CREDITLEDGER_SETTINGS_H

#include "postgres.h"

/* Most databases creditledger.database may list: one worker each. */
#define CL_MAX_WORKERS 32

/* Background workers (worker.c) */
extern int	cl_flush_interval;
extern int	cl_batch_size;
extern int	cl_sweep_interval;
extern int	cl_hold_expiry_interval;
extern int	cl_hot_line_settle_interval;
extern int	cl_bcp_interval;

/* Statistics (opstats.c) */
extern bool cl_track;

/* BCP (bcp.c thresholds read by rule texts, bcp_run.c) */
extern int	cl_bcp_buffer_max_age;
extern int	cl_bcp_hold_overdue;
extern int	cl_bcp_slice_journal_max_age;
extern int	cl_bcp_rule_timeout;

/* Credit alerts (read by the credit_alerts view with current_setting) */
extern double cl_credit_alert_utilization;
extern int	cl_credit_alert_expiring_within;

extern void cl_define_settings(void);

/*
 * The databases named in creditledger.database, in order (one worker
 * each); fixed by cl_settings_fix_databases() at preload, 0 otherwise.
 */
extern void cl_settings_fix_databases(void);
extern int	cl_database_count(void);
extern const char *cl_database_name(int index);

#endif							/* CREDITLEDGER_SETTINGS_H */
