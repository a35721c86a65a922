/** The catalog's sanity checks (core/sanity.ts) as it stands: every plan and pack, at the current settings. */
import { sanityChecks, type Catalog, type Check } from '../../core/sanity.ts';
import type { Settings } from '../../core/settings.ts';
import type { Sql } from '../../db/sql.ts';
import { getSettings, listPacks, listPlans } from './catalog.ts';

/** Every plan and pack, and the settings (all of them: a Catalog and more). */
export async function readCatalog(sql: Sql): Promise<Catalog & { settings: Settings }> {
  const [plans, packs, settings] = await Promise.all([listPlans(sql), listPacks(sql), getSettings(sql)]);
  return { plans, packs, settings };
}

export async function catalogChecks(sql: Sql): Promise<Check[]> {
  return sanityChecks(await readCatalog(sql));
}
