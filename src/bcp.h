/*
 * bcp.h: BCP reconciliation's C side (bcp.c): its GUCs.
 */
#ifndef CREDITLEDGER_BCP_H
#define CREDITLEDGER_BCP_H

extern void cl_define_bcp_gucs(void);

#endif							/* CREDITLEDGER_BCP_H */
