-- The value a recharge buys, fixed with its amount at its first attempt: a payment that completes
-- after the pack was repriced (a charge answered pending, paid days later) credits what was
-- charged for, not the pack as it is then. Recharges fixed before it have none: their pack's value.
ALTER TABLE recharges ADD COLUMN value_micros bigint CHECK (value_micros > 0);
