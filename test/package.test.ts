/**
 * The package as an app installs it: `npm run build`'s JavaScript and declarations, imported by
 * name from plain Node (no TypeScript loader) and type-checked by an app's own compiler under
 * stricter settings than the project's.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

const APP = `
import { createBilling, isBillingError } from 'tollgate';
import { refusalOf, wrap } from 'tollgate/ai';
import { createApi } from 'tollgate/hono';
import { createApp } from 'tollgate/server';

const billing = await createBilling({ database: 'memory://' });
await billing.admin.applyPreset('credit-packs');
await billing.upsertAccount({ id: 'team_42', kind: 'team' });
await billing.credit('team_42', { source: 'bonus', amountMicros: 5_000_000, reference: 'welcome' });
const auth = await billing.authorize('team_42', { model: 'gpt-4o-mini', inputTokens: 1200, maxOutputTokens: 800 });
if (!auth.ok) throw new Error(auth.message);
const charge = await billing.settle(auth.hold.id, { inputTokens: 1200, outputTokens: 310 }, { idempotencyKey: 'msg_1' });
const refusedInput = await billing.authorize('team_42', { model: 'gpt-4o-mini', inputTokens: -1 }).catch((e) => isBillingError(e) && e.code);
console.log(JSON.stringify({
  charged: charge.valueMicros > 0 && Number.isInteger(charge.valueMicros),
  refusedInput,
  entries: [typeof wrap, typeof refusalOf, typeof createApi, typeof createApp],
}));
await billing.close();
`;

// An app's code against the declarations: it compiles, and a wrong argument does not.
const CHECKED = `
import { createBilling, type Billing, type Refusal } from 'tollgate';
import { wrap } from 'tollgate/ai';
export async function gate(billing: Billing): Promise<Refusal | string> {
  const auth = await billing.authorize('team_42', { model: 'gpt-4o-mini', inputTokens: 10, maxOutputTokens: 5 });
  return auth.ok ? auth.hold.id : auth;
}
export const open = () => createBilling({ database: 'memory://' });
export const wrapped = wrap;
`;
const WRONG = `
import { createBilling } from 'tollgate';
export const open = () => createBilling({ database: 42 });
`;

describe('the built package', () => {
  let dir: string;
  let app: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-package-'));
    // The package: its package.json and its build, its dependencies the project's own.
    const pkg = join(dir, 'tollgate');
    mkdirSync(pkg);
    cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
    await run(process.execPath, [join(ROOT, 'scripts/build.mjs'), join(pkg, 'dist')]);
    // The app: tollgate in its node_modules, nothing else of the project's.
    app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(pkg, join(app, 'node_modules', 'tollgate'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(app, 'main.mjs'), APP);
    writeFileSync(join(app, 'checked.ts'), CHECKED);
    writeFileSync(join(app, 'wrong.ts'), WRONG);
    const compilerOptions = {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, exactOptionalPropertyTypes: true,
      noEmit: true, skipLibCheck: true, typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['checked.ts'] }));
    writeFileSync(join(app, 'tsconfig.wrong.json'), JSON.stringify({ compilerOptions, files: ['wrong.ts'] }));
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs on plain Node from its entry points, without a TypeScript loader', async () => {
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: app, env: { ...process.env, NODE_OPTIONS: '' } });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
      charged: true, refusedInput: 'invalid_input', entries: ['function', 'function', 'function', 'function'],
    });
  });

  it("type-checks an app against its declarations under the app's own stricter settings, and refuses a wrong argument", async () => {
    await expect(run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app })).resolves.toBeDefined();
    const wrong = await run(process.execPath, [TSC, '-p', 'tsconfig.wrong.json'], { cwd: app }).then(
      () => 'compiled',
      (error: { stdout: string }) => error.stdout,
    );
    expect(wrong).toMatch(/wrong\.ts\(3,\d+\): error TS2322/);
  });
});
