/** A program compiled for this test run (test/setup/compiled.ts), to start with `node`. */
import { join } from 'node:path';
import { inject } from 'vitest';
import type { PROGRAMS } from '../setup/compiled.ts';

export const compiled = (program: keyof typeof PROGRAMS): string => join(inject('compiledDir'), `${program}.mjs`);
