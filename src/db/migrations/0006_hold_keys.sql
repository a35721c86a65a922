-- The database knows a hold by its key: its id up to the description that follows the first
-- '.' (core/hold-id.ts). New keys are ULIDs, short and in the order holds were placed, so the
-- holds index grows at one end; an id with its description was a 130-byte index entry on a
-- random page. Ids issued before keep working: settle and release look them up by key too.
-- Two stored ids with one key can only be made up ones (a description is not checked against
-- its key); they keep their whole ids rather than fail the migration.
UPDATE holds h SET id = k.key
FROM (SELECT split_part(id, '.', 1) AS key FROM holds WHERE id LIKE '%.%' GROUP BY 1 HAVING count(*) = 1) k
WHERE h.id LIKE '%.%' AND split_part(h.id, '.', 1) = k.key AND NOT EXISTS (SELECT 1 FROM holds o WHERE o.id = k.key);
UPDATE usage_events e SET hold_id = split_part(e.hold_id, '.', 1)
WHERE e.hold_id LIKE '%.%' AND EXISTS (SELECT 1 FROM holds h WHERE h.id = split_part(e.hold_id, '.', 1));
