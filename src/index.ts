/**
 * `tollgate`: the library. The billing engine and its types; it loads no server, AI SDK or
 * processor SDK (those are `tollgate/ai`, `tollgate/hono`, `tollgate/server`, over it).
 */
export { createBilling, type Billing, type BillingOptions } from './engine/billing.ts';
export type { AuthorizeInput, AuthorizeResult, Hold } from './engine/gate/authorize.ts';
export type { Charge, ChargeOptions, RecordBatchItem, RecordInput, SettleOptions } from './engine/charge/charge.ts';
export type { Balance, BucketView, LimitView, MemberView, UsageQuery, UsageRow } from './engine/reads/reads.ts';
// What the facade's calls take, for code that builds them apart from the call.
export type { AccountInput } from './engine/accounts.ts';
export type { CreditInput } from './engine/grants/grants.ts';
export type { RefundInput } from './engine/grants/refunds.ts';
export type { TakeBackInput } from './engine/grants/take-back.ts';
export type { CheckoutUrls } from './engine/grants/checkout.ts';
export type { PortalInput } from './engine/grants/portal.ts';
export type { MoneyRange } from './engine/reads/money.ts';
export type { ModelPriceInput } from './engine/catalog/catalog.ts';
export type { SettingsInput } from './core/settings.ts';
export type { MemberLimits } from './engine/gate/members.ts';
export type { CanStartInput } from './engine/gate/can-start.ts';
export type { Reconciliation } from './engine/reads/reconcile.ts';
export type { RefundResult } from './engine/grants/refunds.ts';
export type { Account } from './engine/rows.ts';
export { BillingError, ERROR_CODES, isBillingError, type ErrorCode } from './core/errors.ts';
export { REFUSAL_CODES, type Refusal, type RefusalCode, type Remedy } from './core/refusal.ts';
export { formatCredits, formatUsd, formatValue, type Display, type Micros } from './core/money.ts';
export type { Plan, PlanInput, Limit } from './core/plan.ts';
export { modelAllowed } from './core/plan.ts';
export type { Pack, PackInput } from './core/pack.ts';
export type { Settings, PricingMode } from './core/settings.ts';
export type { PriceEntry } from './core/pricing/price.ts';
export type { TokenUsage } from './core/usage.ts';
export { PRESETS } from './core/presets.ts';
export { WebhookSignatureError, type Processor, type ProcessorEvent, type Completed, type Pending, type CheckoutRequest } from './engine/processor.ts';
export type { DeclineCode, SavedCharge, SavedChargeRequest } from './engine/processor.ts';
export type { EffectOptions, Once } from './engine/once.ts';
export type { PaymentRefundInput, PaymentRefundResult } from './engine/grants/payment-refunds.ts';
export type { PaymentRefund, PaymentRefundRequest } from './engine/processor.ts';
export type { PaymentRefundView, PaymentView } from './engine/reads/payments.ts';
export { fakeProcessor, type FakeCharge, type FakeProcessor, type FakeProcessorOptions } from './processors/fake/index.ts';
export type { AutoRechargeInput, AutoRechargeView } from './engine/grants/auto-recharge.ts';
export type { RechargeRun, RechargeView } from './engine/grants/recharges.ts';
