/**
 * A second process for the lock tests: opens the pglite:// directory given as its argument,
 * prints "open" (or the error's code), and keeps the database open until it is killed.
 */
import { createBilling } from '../../src/index.ts';

try {
  await createBilling({ database: `pglite://${process.argv[2]}` });
  process.stdout.write('open\n');
  setInterval(() => {}, 60_000);
} catch (error) {
  process.stdout.write(`${(error as { code?: string }).code ?? String(error)}\n`);
  process.exit(1);
}
