-- The database knows a hold by its key: its id up to the description that follows the first
-- '.' (core/hold-id.ts). New keys are ULIDs, short and in the order holds were placed, so the
-- holds index grows at one end; an id with its description was a 130-byte index entry on a
-- random page. Ids issued before keep working: settle and release look them up by key too.
UPDATE holds SET id = split_part(id, '.', 1) WHERE id LIKE '%.%';
UPDATE usage_events SET hold_id = split_part(hold_id, '.', 1) WHERE hold_id LIKE '%.%';
