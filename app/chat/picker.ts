/**
 * The model picker: of the models the app has, those the account's plan allows, by the plan's
 * own patterns (the gate's rule, from tollgate). A model outside them is not offered; asked for
 * anyway, the gate refuses it, and the refusal says to upgrade.
 */
import { modelAllowed } from 'tollgate';
import type { ChatModel } from '../models/models.ts';

export interface Picker {
  offered: ChatModel[];
  /** Models the app has that a better plan would allow. */
  others: ChatModel[];
}

export function picker(models: readonly ChatModel[], plan: { models: string[] }): Picker {
  const offered = models.filter((m) => modelAllowed(plan, m.id));
  return { offered, others: models.filter((m) => !offered.includes(m)) };
}
