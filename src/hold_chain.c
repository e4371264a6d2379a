/*
 * hold_chain.c: the hold chain (hold_entries, CLH1) of an account's chain
 * rows: its encoding (hold_entry_hash, byte for byte what
 * creditledger._hold_entry_hash computes in SQL), and the writer
 * (hold_append) that appends an entry through chain.c's ChainWriter with
 * the hold chain kind and moves the head in memory.  posting.c appends a
 * pending post's or a due release's entry with it inside a posting; holds.c
 * every other hold change.  Nothing here decides what a hold does: that is
 * holds.c, which sits above posting.c.
 *
 * Locking: none of its own.  The caller holds the chain row's lock (so no
 * other transaction appends to the chain) and writes the head back
 * (chain_heads_write).
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/int.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "chain.h"
#include "hold_chain.h"
#include "journal.h"

/* The hold_entries columns the hold chain kind writes, by name (the entry id first). */
static const char *const hold_entry_columns[] = {
	"entry_id", "account_id", "sub_account", "version", "op", "target", "target_id", "ref",
	"transfer_id", "amount", "held_delta", "held_after", "block", "actor", "reason",
	"prev_hash", "hash", "created_at"
};
enum
{
	HE_ENTRY_ID, HE_ACCOUNT_ID, HE_SUB_ACCOUNT, HE_VERSION, HE_OP, HE_TARGET, HE_TARGET_ID,
	HE_REF, HE_TRANSFER_ID, HE_AMOUNT, HE_HELD_DELTA, HE_HELD_AFTER, HE_BLOCK, HE_ACTOR,
	HE_REASON, HE_PREV_HASH, HE_HASH, HE_CREATED_AT, HE_COUNT
};

StaticAssertDecl(lengthof(hold_entry_columns) == HE_COUNT, "hold_entry_columns and HE_* differ");
StaticAssertDecl(HE_COUNT <= CL_MAX_MAPPED_COLUMNS, "hold_entry_columns do not fit a ColumnMap");

/*
 * cl_block_name: the SQL name of a block ('n', 'd', 'c', 'a').
 */
const char *
cl_block_name(char block)
{
	switch (block)
	{
		case 'd':
			return "debits";
		case 'c':
			return "credits";
		case 'a':
			return "all";
		default:
			return "none";
	}
}

/*
 * actor_name: who is acting: the session user (the login role, also
 * inside these SECURITY DEFINER functions).
 */
static char *
actor_name(void)
{
	return GetUserNameFromId(GetSessionUserId(), false);
}

/*
 * put_utf8: a text value as the CLH1 encoding writes it: its UTF-8 bytes
 * (convert_to(value, 'UTF8') in SQL), with an int32 length first unless
 * with_len is false.
 */
static void
put_utf8(StringInfo buf, const char *s, bool with_len)
{
	int			len = strlen(s);
	char	   *u = pg_server_to_any(s, len, PG_UTF8);

	if (u != s)
		len = strlen(u);
	if (with_len)
		cl_put_int32(buf, len);
	appendBinaryStringInfo(buf, u, len);
	if (u != s)
		pfree(u);
}

/*
 * hold_entry_hash: the CLH1 hash of a hold chain entry, byte for byte
 * what creditledger._hold_entry_hash computes in SQL: SHA-256(prev_hash ||
 * 'CLH1' || account || sub || version || len+op || target || target_id ||
 * len+ref || (0x00 | 0x01 || transfer_id) || amount || held_delta ||
 * held_after || len+block || len+actor || (-1 | len+reason) || created_at
 * usecs), integers big-endian, text as UTF-8.  transfer_id 0 means NULL.
 */
static void
hold_entry_hash(pg_cryptohash_ctx *ctx, const uint8 *prev_hash, int64 account_id,
				int32 sub_account, int64 version, const HoldRecord *r, int64 held_delta,
				int64 held_after, const char *block, const char *actor,
				TimestampTz created_at, uint8 *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) prev_hash, CL_HASH_LEN);
	appendBinaryStringInfo(&buf, "CLH1", 4);
	cl_put_int64(&buf, account_id);
	cl_put_int32(&buf, sub_account);
	cl_put_int64(&buf, version);
	put_utf8(&buf, r->op, true);
	appendStringInfoChar(&buf, r->target);
	cl_put_int64(&buf, r->target_id);
	put_utf8(&buf, r->ref, true);
	if (r->transfer_id == 0)
		appendStringInfoChar(&buf, 0);
	else
	{
		appendStringInfoChar(&buf, 1);
		cl_put_int64(&buf, r->transfer_id);
	}
	cl_put_int64(&buf, r->amount);
	cl_put_int64(&buf, held_delta);
	cl_put_int64(&buf, held_after);
	put_utf8(&buf, block, true);
	put_utf8(&buf, actor, true);
	if (r->reason == NULL)
		cl_put_int32(&buf, -1);
	else
		put_utf8(&buf, r->reason, true);
	cl_put_int64(&buf, cl_unix_usecs(created_at));
	cl_sha256(ctx, (const uint8 *) buf.data, buf.len, out);
	pfree(buf.data);
}

/* One CLH1 entry, as the hold chain kind encodes and fills it. */
typedef struct HoldEntry
{
	int64		account_id;
	int32		sub_account;
	int64		version;
	const HoldRecord *r;
	int64		held_delta;
	int64		held_after;
	const char *block;
	const char *actor;
	TimestampTz created_at;
} HoldEntry;

/* hold_encode: the CLH1 kind's encoder */
static void
hold_encode(pg_cryptohash_ctx *ctx, const uint8 *prev_hash, const void *entry, uint8 *out)
{
	const HoldEntry *e = entry;

	hold_entry_hash(ctx, prev_hash, e->account_id, e->sub_account, e->version, e->r,
					e->held_delta, e->held_after, e->block, e->actor, e->created_at, out);
}

/* hold_fill: the CLH1 kind's row (columns 1.. of hold_entry_columns) */
static void
hold_fill(const void *entry, const uint8 *prev_hash, const uint8 *hash, Datum *v, bool *isnull)
{
	const HoldEntry *e = entry;
	const HoldRecord *r = e->r;

	v[HE_ACCOUNT_ID] = Int64GetDatum(e->account_id);
	v[HE_SUB_ACCOUNT] = Int32GetDatum(e->sub_account);
	v[HE_VERSION] = Int64GetDatum(e->version);
	v[HE_OP] = CStringGetTextDatum(r->op);
	v[HE_TARGET] = CharGetDatum(r->target);
	v[HE_TARGET_ID] = Int64GetDatum(r->target_id);
	v[HE_REF] = CStringGetTextDatum(r->ref);
	if (r->transfer_id != 0)
		v[HE_TRANSFER_ID] = Int64GetDatum(r->transfer_id);
	else
		isnull[HE_TRANSFER_ID] = true;
	v[HE_AMOUNT] = Int64GetDatum(r->amount);
	v[HE_HELD_DELTA] = Int64GetDatum(e->held_delta);
	v[HE_HELD_AFTER] = Int64GetDatum(e->held_after);
	v[HE_BLOCK] = CStringGetTextDatum(e->block);
	v[HE_ACTOR] = CStringGetTextDatum(e->actor);
	if (r->reason != NULL)
		v[HE_REASON] = CStringGetTextDatum(r->reason);
	else
		isnull[HE_REASON] = true;
	v[HE_PREV_HASH] = cl_hash_datum(prev_hash);
	v[HE_HASH] = cl_hash_datum(hash);
	v[HE_CREATED_AT] = TimestampTzGetDatum(e->created_at);
}

/* The hold chain kind: hold_entries, CLH1, for chain.c's ChainWriter. */
static ChainKindCache hold_cache;
static const ChainKind hold_chain_kind = {
	"hold_entries", "hold_entry_id_seq", hold_entry_columns, HE_COUNT, &hold_cache,
	hold_encode, hold_fill
};

/*
 * hold_append: append the next entry of head's hold chain (held changes by
 * held_delta; block is the account's block after the entry) and move the
 * head in memory; the caller holds the chain's row lock (so no other
 * transaction appends to this chain) and writes the head back
 * (chain_heads_write).  The entry goes through chain.c's ChainWriter with
 * the hold chain kind (CLH1: hold_entry_hash), straight into the heap
 * with its index entries (hold_entries has no insert trigger and no CHECK
 * constraint to bypass), as journal and credit entries do.
 */
void
hold_append(ChainHead *head, const HoldRecord *r, int64 held_delta, char block)
{
	ChainWriter w;
	HoldEntry	e;
	uint8		hash[CL_HASH_LEN];

	if (pg_add_s64_overflow(head->held, held_delta, &e.held_after))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("held amount of account " INT64_FORMAT " would be out of range for type bigint",
						head->account_id)));
	if (e.held_after < 0)
		elog(ERROR, "creditledger: held of account " INT64_FORMAT " sub-account %d would go negative",
			 head->account_id, head->sub_account);
	e.account_id = head->account_id;
	e.sub_account = head->sub_account;
	e.version = head->hold_version + 1;
	e.r = r;
	e.held_delta = held_delta;
	e.block = cl_block_name(block);
	e.actor = actor_name();
	e.created_at = GetCurrentTransactionStartTimestamp();

	chain_writer_open(&w, &hold_chain_kind);
	chain_writer_append(&w, head->hold_hash, &e, hash);
	chain_writer_close(&w);

	memcpy(head->hold_hash, hash, CL_HASH_LEN);
	head->hold_version = e.version;
	head->held = e.held_after;
	head->dirty = true;
}
