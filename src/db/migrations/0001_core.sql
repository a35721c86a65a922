-- Tollgate core schema. Amounts are bigint micro-dollars (1e-6 USD) unless named *_cents.

CREATE TABLE plans (
  id                bigserial PRIMARY KEY,
  slug              text NOT NULL UNIQUE,
  name              text NOT NULL,
  status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'legacy', 'archived')),
  price_cents       bigint NOT NULL CHECK (price_cents >= 0),
  surcharge_cents   bigint NOT NULL DEFAULT 0 CHECK (surcharge_cents >= 0 AND surcharge_cents <= price_cents),
  included_micros   bigint CHECK (included_micros >= 0), -- null: price − surcharge
  limits            jsonb NOT NULL DEFAULT '[]',
  overage           text NOT NULL DEFAULT 'block' CHECK (overage IN ('block', 'credits')),
  models            text[] NOT NULL DEFAULT '{}',
  processor_prices  jsonb NOT NULL DEFAULT '{}',
  public            boolean NOT NULL DEFAULT true,
  sort              integer NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE packs (
  id                  bigserial PRIMARY KEY,
  slug                text NOT NULL UNIQUE,
  name                text NOT NULL,
  status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
  price_cents         bigint NOT NULL CHECK (price_cents > 0),
  value_micros        bigint CHECK (value_micros > 0), -- null: the price
  expires_after_days  integer CHECK (expires_after_days > 0),
  requires_plan       boolean NOT NULL DEFAULT false,
  processor_prices    jsonb NOT NULL DEFAULT '{}',
  public              boolean NOT NULL DEFAULT true,
  sort                integer NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE settings (
  id                    boolean PRIMARY KEY DEFAULT true CHECK (id),
  margin_bps            integer NOT NULL DEFAULT 5000 CHECK (margin_bps >= 0 AND margin_bps < 10000),
  display_unit          text NOT NULL DEFAULT 'usd' CHECK (display_unit IN ('usd', 'credits')),
  credit_value_micros   bigint NOT NULL DEFAULT 10000 CHECK (credit_value_micros > 0),
  default_plan_id       bigint REFERENCES plans (id),
  unknown_model_policy  text NOT NULL DEFAULT 'refuse' CHECK (unknown_model_policy IN ('refuse', 'fallback')),
  fallback_price        jsonb,
  min_hold_micros       bigint NOT NULL DEFAULT 10000 CHECK (min_hold_micros >= 0),
  hold_ttl_seconds      integer NOT NULL DEFAULT 900 CHECK (hold_ttl_seconds > 0),
  pricing_mode          text,
  CHECK (unknown_model_policy = 'refuse' OR fallback_price IS NOT NULL)
);

-- Admin overrides of the bundled price book, effective from a moment on.
CREATE TABLE model_prices (
  id              bigserial PRIMARY KEY,
  provider        text NOT NULL DEFAULT '', -- '' matches any provider
  model           text NOT NULL,
  effective_from  timestamptz NOT NULL,
  price           jsonb NOT NULL,           -- a PriceEntry
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, model, effective_from)
);

-- The billed entity. This row is the gate's mutex: authorize locks it.
CREATE TABLE accounts (
  id                    text PRIMARY KEY,
  kind                  text NOT NULL CHECK (kind IN ('personal', 'team')),
  name                  text NOT NULL DEFAULT '',
  time_zone             text NOT NULL DEFAULT 'UTC',
  plan_id               bigint NOT NULL REFERENCES plans (id),
  plan_anchor_at        timestamptz,  -- start of the first paid period; null: calendar months
  plan_ends_at          timestamptz,  -- a canceled subscription runs to here, then the default plan
  processor             text NOT NULL DEFAULT 'fake',
  processor_customer_id text,
  created_at            timestamptz NOT NULL DEFAULT now()
);

-- One row per account: the ledger's mutex and its debt. Value movements lock it.
CREATE TABLE account_balances (
  account_id   text PRIMARY KEY REFERENCES accounts (id),
  debt_micros  bigint NOT NULL DEFAULT 0 CHECK (debt_micros >= 0)
);

CREATE TABLE buckets (
  id                bigserial PRIMARY KEY,
  account_id        text NOT NULL REFERENCES accounts (id),
  source            text NOT NULL CHECK (source IN ('allowance', 'pack', 'recharge', 'bonus', 'refund', 'adjustment')),
  amount_micros     bigint NOT NULL CHECK (amount_micros > 0),
  remaining_micros  bigint NOT NULL CHECK (remaining_micros >= 0 AND remaining_micros <= amount_micros),
  priority          integer NOT NULL,
  starts_at         timestamptz NOT NULL,
  expires_at        timestamptz,
  reference         text NOT NULL,
  plan_id           bigint REFERENCES plans (id),
  pack_id           bigint REFERENCES packs (id),
  created_at        timestamptz NOT NULL,
  UNIQUE (account_id, reference)
);
CREATE INDEX buckets_usable ON buckets (account_id) WHERE remaining_micros > 0;

CREATE TABLE holds (
  id              text PRIMARY KEY,
  account_id      text NOT NULL REFERENCES accounts (id),
  model           text NOT NULL,
  provider        text NOT NULL,
  user_id         text,
  amount_micros   bigint NOT NULL CHECK (amount_micros >= 0),
  tokens          bigint NOT NULL CHECK (tokens >= 0),
  status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled', 'released')),
  expires_at      timestamptz NOT NULL,
  created_at      timestamptz NOT NULL,
  resolved_at     timestamptz,
  usage_event_id  bigint
);
CREATE INDEX holds_open ON holds (account_id, expires_at) WHERE status = 'open';

CREATE TABLE usage_events (
  id                  bigserial PRIMARY KEY,
  account_id          text NOT NULL REFERENCES accounts (id),
  idempotency_key     text NOT NULL,
  hold_id             text REFERENCES holds (id),
  user_id             text,
  model               text NOT NULL,
  provider            text NOT NULL,
  input_tokens        bigint NOT NULL,
  output_tokens       bigint NOT NULL,
  cache_read_tokens   bigint,  -- null: not reported
  cache_write_tokens  bigint,
  reasoning_tokens    bigint,
  cost_micros         bigint NOT NULL CHECK (cost_micros >= 0),
  value_micros        bigint NOT NULL CHECK (value_micros >= 0),
  refunded_micros     bigint NOT NULL DEFAULT 0 CHECK (refunded_micros >= 0 AND refunded_micros <= value_micros),
  margin_bps          integer NOT NULL,
  price               jsonb NOT NULL, -- the PriceEntry used: history never re-prices
  metadata            jsonb NOT NULL DEFAULT '{}',
  occurred_at         timestamptz NOT NULL,
  UNIQUE (account_id, idempotency_key)
);
CREATE INDEX usage_events_account_time ON usage_events (account_id, occurred_at);

-- Append-only. bucket_id null is the account's debt: a usage shortfall (negative) or its repayment (positive).
CREATE TABLE ledger_entries (
  id              bigserial PRIMARY KEY,
  account_id      text NOT NULL REFERENCES accounts (id),
  bucket_id       bigint REFERENCES buckets (id),
  amount_micros   bigint NOT NULL CHECK (amount_micros <> 0),
  kind            text NOT NULL CHECK (kind IN ('grant', 'usage', 'refund', 'debt_payment', 'adjustment')),
  usage_event_id  bigint REFERENCES usage_events (id),
  created_at      timestamptz NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id);
CREATE INDEX ledger_entries_bucket ON ledger_entries (bucket_id);
CREATE INDEX ledger_entries_usage_event ON ledger_entries (usage_event_id);

-- Usage counters for limits, one row per account, window kind and window start.
CREATE TABLE usage_windows (
  account_id    text NOT NULL REFERENCES accounts (id),
  window_kind   text NOT NULL CHECK (window_kind IN ('day', 'month')),
  starts_at     timestamptz NOT NULL,
  value_micros  bigint NOT NULL DEFAULT 0,
  tokens        bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, window_kind, starts_at)
);

CREATE TABLE subscriptions (
  id                    bigserial PRIMARY KEY,
  account_id            text NOT NULL REFERENCES accounts (id),
  plan_id               bigint NOT NULL REFERENCES plans (id),
  processor             text NOT NULL,
  processor_ref         text NOT NULL,
  status                text NOT NULL CHECK (status IN ('active', 'canceled')),
  started_at            timestamptz NOT NULL,
  cancel_at             timestamptz,
  UNIQUE (processor, processor_ref)
);

CREATE TABLE payments (
  id             bigserial PRIMARY KEY,
  account_id     text NOT NULL REFERENCES accounts (id),
  processor      text NOT NULL,
  processor_ref  text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('pack', 'subscription')),
  pack_id        bigint REFERENCES packs (id),
  plan_id        bigint REFERENCES plans (id),
  amount_cents   bigint NOT NULL CHECK (amount_cents >= 0),
  status         text NOT NULL CHECK (status IN ('succeeded', 'failed', 'refunded')),
  created_at     timestamptz NOT NULL,
  UNIQUE (processor, processor_ref)
);

INSERT INTO settings (id) VALUES (true);
