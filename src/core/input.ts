/**
 * One gate for input: the schemas every public call parses its arguments with, before anything
 * is read or written. What passes can be stored and read back by both engines without a
 * database error, and counted and summed without leaving the safe-integer range; what fails is
 * one BillingError('invalid_input') that names each field and what to fix. See "One gate for
 * input" in docs/design.md for the bounds and why.
 */
import { z } from 'zod';
import { BillingError } from './errors.ts';
import { formatCents, formatUsd, MICROS_PER_CENT } from './money.ts';

declare global {
  interface String {
    /** ES2024: false when the string holds an unpaired surrogate (Node 20 has it). */
    isWellFormed(): boolean;
    /** ES2024: each unpaired surrogate replaced by U+FFFD (Node 20 has it). */
    toWellFormed(): string;
  }
}

/** The most tokens of one kind a single call may report or reserve: far above any model's context. */
export const MAX_CALL_TOKENS = 1_000_000_000;
/** Dates a call may name: anything outside is a mistake (an epoch, a sentinel), not a billing moment. */
export const MIN_DATE = new Date('2000-01-01T00:00:00Z');
export const MAX_DATE = new Date('2200-01-01T00:00:00Z');
/** Metadata kept with a usage event: its JSON, at most this many characters, nested at most so deep. */
export const MAX_METADATA_CHARS = 8_000;
const MAX_METADATA_DEPTH = 16;
const INT4_MAX = 2 ** 31 - 1;

/** Why a string cannot be stored as text or JSON by PostgreSQL, or undefined if it can. */
export function textProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain the NUL character (\\u0000)';
  if (!value.isWellFormed()) return 'must be well-formed Unicode: it holds an unpaired surrogate (half of an emoji, say)';
  return undefined;
}

/**
 * A string of at most `max` characters that PostgreSQL can store; `min` 1 makes it non-empty.
 * `message`, when given, says every problem with it in one sentence.
 */
export function text(max: number, min = 0, message?: string) {
  const schema = z
    .string({ error: message ?? 'must be a string' })
    .max(max, message ?? `must be at most ${max.toLocaleString('en-US')} characters`)
    .superRefine((value, ctx) => {
      const problem = textProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: message ?? problem });
    });
  return min > 0 ? schema.min(min, message ?? 'must not be empty') : schema;
}

/** The longest id or key the host app may choose. */
export const MAX_ID_CHARS = 200;
/** Ids and keys the host app chooses: account ids, user ids, idempotency keys, references. */
export const idSchema = text(MAX_ID_CHARS, 1);
/** An account's id: trimmed, as upsertAccount stores it, so that every call finds the account it made. */
export const accountIdSchema = idSchema.trim().min(1, 'must not be empty');
/** A hold id, as authorize returned it. */
export const holdIdSchema = text(4000, 1);
/** A model or provider name, trimmed. */
export const modelSchema = text(200).trim().min(1, 'must name a model');
export const providerSchema = text(100).trim().min(1, 'must name a provider');
/** A plan's or pack's slug. */
export const slugSchema = z.string({ error: 'must be a string' }).regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1–63 lowercase letters, digits, "-" or "_"');

/** A count of tokens in one call. */
export const tokenCount = z
  .number({ error: 'must be a number of tokens' })
  .int('must be a whole number of tokens')
  .nonnegative('must not be negative')
  .max(MAX_CALL_TOKENS, `must be at most ${MAX_CALL_TOKENS.toLocaleString('en-US')} tokens in one call`);

/** The most micro-dollars an amount may be (2^53 − 1), said in dollars. */
const MOST_DOLLARS = 'must be at most $9,007,199,254.74 (about $9 billion)';

/** Micro-dollars, from zero up to 2^53 − 1 (about $9 billion); an amount merely too large or negative is told so, not that it is not whole. */
export const micros = z
  .number({ error: 'must be a number of micro-dollars' })
  .int({ error: (issue) => (!Number.isInteger(issue.input) ? 'must be whole micro-dollars' : (issue.input as number) < 0 ? 'must not be negative' : MOST_DOLLARS), abort: true })
  .nonnegative('must not be negative')
  .max(Number.MAX_SAFE_INTEGER, MOST_DOLLARS);

/** The most a price may be, in cents: $100 million. */
export const MAX_CENTS = 100_000_000_00;

/**
 * The most one grant of value may be (a plan's allowance, a pack's value, a credit): $100
 * million, as a price. Each is a bucket an account's reads add up, and two of $5 billion made
 * its sums leave the safe integers, so that no read of the account parsed again.
 */
export const MAX_GRANT_MICROS = MAX_CENTS * MICROS_PER_CENT;

/** Micro-dollars of one grant, up to $100 million. */
export const grantMicros = micros.max(MAX_GRANT_MICROS, {
  error: (issue) => `${formatUsd(issue.input as number)} is more than ${formatUsd(MAX_GRANT_MICROS)}, the most it can be`,
});

/** Whole cents of a price, up to $100 million. */
export const cents = z
  .number({ error: 'must be a number of cents' })
  .int('must be whole cents')
  .nonnegative('must not be negative')
  .max(MAX_CENTS, { error: (issue) => `${formatCents(issue.input as number)} is more than ${formatCents(MAX_CENTS)}, the most it can be` });

/** A whole number the database keeps in 32 bits (sort orders). */
export const int4 = z.number({ error: 'must be a number' }).int('must be a whole number').min(-INT4_MAX - 1, 'must be at least -2,147,483,648').max(INT4_MAX, 'must be at most 2,147,483,647');

/** A positive row id (a usage event's). */
export const rowId = z.number({ error: 'must be a number' }).int('must be a whole number').positive('must be positive').max(Number.MAX_SAFE_INTEGER, 'must be below 2^53');

const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

/**
 * A moment: a valid Date, or an ISO 8601 date ("2026-03-01", midnight UTC) or date-time with its
 * offset ("2026-03-01T12:00:00Z"), between MIN_DATE and MAX_DATE. Nothing is coerced: a number
 * or a boolean is not a date. As JSON carries it (the metadata, for a document made from it), a
 * string of either form.
 */
export const instant = z
  .custom<Date | string>((value) => value instanceof Date || typeof value === 'string', {
    message: 'must be a Date or an ISO 8601 string such as "2026-03-01" or "2026-03-01T12:00:00Z"',
  })
  .transform((value, ctx): Date => {
    const iso = typeof value !== 'string' || isoDateTime.safeParse(value).success || isoDate.safeParse(value).success;
    const date = new Date(typeof value === 'string' ? value : value.getTime());
    if (!iso || Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'must be a valid date: a Date, or an ISO 8601 string such as "2026-03-01" or "2026-03-01T12:00:00Z"' });
      return z.NEVER;
    }
    if (date < MIN_DATE || date >= MAX_DATE) {
      ctx.addIssue({ code: 'custom', message: `must be from ${MIN_DATE.toISOString().slice(0, 10)} and before ${MAX_DATE.toISOString().slice(0, 10)}` });
      return z.NEVER;
    }
    return date;
  })
  .meta({
    type: 'string',
    anyOf: [{ format: 'date' }, { format: 'date-time' }],
    description: `An ISO 8601 date ("2026-03-01", midnight UTC) or date-time with its offset, from ${MIN_DATE.toISOString().slice(0, 10)} and before ${MAX_DATE.toISOString().slice(0, 10)}.`,
  });

/** An object literal (or one made with Object.create(null)): not an array, a Date, a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * `schema` (an object schema) for plain objects only: zod's objects also take a Date or any class
 * instance, whose fields it does not see, and would read them as an empty object. The check runs
 * first, as a step that passes the value on, so a document made from the schema (the API's
 * OpenAPI) describes `schema` itself.
 */
export function plain<T extends z.ZodType>(schema: T) {
  const plainObject = z.transform<z.input<T>, z.input<T>>((value, ctx) => {
    if (isPlainObject(value)) return value;
    ctx.issues.push({ code: 'custom', message: 'must be a plain object ({ … })', input: value });
    return z.NEVER;
  });
  return plainObject.pipe(schema as unknown as z.ZodType<z.output<T>, Awaited<z.input<T>>>);
}

type WithoutDefault<T> = T extends z.ZodDefault<infer Inner> ? Inner : T;

/**
 * A change to what `shape` makes: each of its fields, optional and without its default (a field
 * left out stays as it is), and no other; a plain object, as `plain` reads one.
 */
export function patchOf<S extends z.ZodRawShape>(shape: S) {
  const fields = Object.fromEntries(Object.entries(shape).map(([name, field]) => [name, ((field instanceof z.ZodDefault ? field.unwrap() : field) as z.ZodType).optional()]));
  return plain(z.object(fields as unknown as { [K in keyof S]: z.ZodOptional<WithoutDefault<S[K]>> }).strict());
}

/** The first reason `value` is not plain JSON that PostgreSQL's jsonb can store, with where. */
function jsonProblem(value: unknown, path: (string | number)[], depth: number, budget: { nodes: number }): { path: (string | number)[]; message: string } | undefined {
  if (--budget.nodes < 0) return { path, message: `is too large: metadata must serialize to at most ${MAX_METADATA_CHARS.toLocaleString('en-US')} characters` };
  if (value === null || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path, message: `must be a finite number, got ${value}` };
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { path, message: problem } : undefined;
  }
  const fix = 'metadata holds JSON values only: strings, finite numbers, booleans, null, arrays and plain objects';
  if (typeof value !== 'object') return { path, message: `is a ${typeof value}: ${fix}` };
  if (depth >= MAX_METADATA_DEPTH) return { path, message: `is nested too deep (or refers to itself): at most ${MAX_METADATA_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) return { path: [...path, i], message: `is undefined or a hole in an array: ${fix}` };
      const problem = jsonProblem(value[i], [...path, i], depth + 1, budget);
      if (problem) return problem;
    }
    return undefined;
  }
  if (!isPlainObject(value)) return { path, message: `is a ${value.constructor?.name ?? 'non-plain object'}: ${fix} (turn a Date into an ISO string)` };
  for (const [key, item] of Object.entries(value)) {
    const keyProblem = textProblem(key);
    if (keyProblem) return { path: [...path, key], message: `has a key that ${keyProblem}` };
    if (item === undefined) continue; // left out, as JSON.stringify leaves it out
    const problem = jsonProblem(item, [...path, key], depth + 1, budget);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Metadata kept with a usage event: a plain object of JSON values, strings well-formed and
 * NUL-free, small when serialized. As JSON carries it (the metadata, for a document made from
 * it), an object of any values.
 */
export const metadataSchema = z
  .custom<Record<string, unknown>>(isPlainObject, { message: 'must be a plain object of JSON values' })
  .superRefine((value, ctx) => {
    const problem = jsonProblem(value, [], 0, { nodes: MAX_METADATA_CHARS });
    if (problem) {
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
    } else if (JSON.stringify(value).length > MAX_METADATA_CHARS) {
      ctx.addIssue({ code: 'custom', message: `must serialize to at most ${MAX_METADATA_CHARS.toLocaleString('en-US')} characters` });
    }
  })
  .meta({
    type: 'object',
    additionalProperties: {},
    description: `Kept with the usage event (chat, message…): JSON values, at most ${MAX_METADATA_CHARS.toLocaleString('en-US')} characters serialized and ${MAX_METADATA_DEPTH} levels deep.`,
  });

/**
 * Parse untrusted input with a schema; failures become one invalid_input error naming the
 * fields. An object that throws as it is read (a getter, a proxy) is invalid input too.
 */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'reading it threw';
    throw new BillingError('invalid_input', `Invalid ${what}: it could not be read (${reason}): pass plain data`, { issues: [`${what}: could not be read`] });
  }
  if (result.success) return result.data;
  const fields = result.error.issues.map((issue) => ({ field: issue.path.map(String).join('.'), message: issue.message }));
  const said = fields.map(({ field, message }) => (field ? `${field}: ${message}` : message));
  throw new BillingError('invalid_input', `Invalid ${what}: ${said.join('; ')}`, { issues: fields.map(({ field, message }) => `${field || what}: ${message}`) });
}
