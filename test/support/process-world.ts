/**
 * Several Tollgate processes on one fresh PostgreSQL schema for a describe block: started
 * before its tests (the first is the one a test uses for admin calls and reads), stopped and
 * the schema dropped after them. Only where TEST_DATABASE_URL is set (describe.skipIf).
 */
import { afterAll, beforeAll } from 'vitest';
import { ENGINES } from './harness.ts';
import { BillingProcess } from './processes.ts';

export interface ProcessWorld {
  /** Every process; `admin` is the first of them. */
  processes: BillingProcess[];
  admin: BillingProcess;
}

export function useProcesses(count: number, prepare: (admin: BillingProcess) => Promise<void>): ProcessWorld {
  const world = {} as ProcessWorld;
  let schema: Awaited<ReturnType<(typeof ENGINES)[number]['open']>> | undefined;
  beforeAll(async () => {
    schema = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const url = schema.url!;
    world.processes = await Promise.all(Array.from({ length: count }, () => BillingProcess.start(url)));
    [world.admin] = world.processes as [BillingProcess];
    await prepare(world.admin);
  }, 120_000);
  afterAll(async () => {
    await Promise.all((world.processes ?? []).map((p) => p.stop()));
    await schema?.drop();
  });
  return world;
}
