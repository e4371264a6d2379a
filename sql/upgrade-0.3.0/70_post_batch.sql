--------------------------------------------------------------------------
-- Batch posting (src/batch.c): post_batch(items, atomic).
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.post_batch(items jsonb, atomic boolean DEFAULT false)
RETURNS TABLE(item int, id bigint, sqlstate text, message text)
AS 'MODULE_PATHNAME', 'cl_post_batch'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
ROWS 100;
COMMENT ON FUNCTION creditledger.post_batch(jsonb, boolean) IS
    'Posts 1 to 10000 items (JSON objects with "op": transfer, entry, reverse, pending, post or void, the arguments of that call, and optionally "linked": true joining an item with the next into a group that succeeds or fails as one). Locks every account of the batch once, in ascending id order; returns one row per item (1-based): the id on success (a replay: the first id), else the SQLSTATE and message the single call would raise (LD014 for the other items of a failed linked group). A failed item or group leaves nothing. atomic => true: the first failure raises and nothing is posted.';
