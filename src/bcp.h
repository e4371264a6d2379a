/*
 * bcp.h: BCP reconciliation's C side (bcp.c): its GUCs.
 */
#ifndef CREDITLEDGER_BCP_H
#define CREDITLEDGER_BCP_H


#endif							/* CREDITLEDGER_BCP_H */
