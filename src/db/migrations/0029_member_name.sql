-- A capped member's name as the host app knows them (members.ts), shown beside their caps
-- instead of the user id alone. Caps set before it, or without one, have none.
ALTER TABLE member_limits ADD COLUMN name text;
