/** The money view's CSV as a spreadsheet opens it: a name an app chose is text, never a formula. */
import { describe, expect, it } from 'vitest';
import { moneyCsv } from '../src/admin/money-csv.ts';

const usage = { events: 1, inputTokens: 2, outputTokens: 3, chargedMicros: 4_000, refundedMicros: 0, valueMicros: 4_000, costMicros: 2_000, marginMicros: 2_000 };

describe('the money CSV', () => {
  it('makes a model id that starts as a formula text, and quotes one with a comma or a quote', () => {
    const models = ['=HYPERLINK("https://evil.example","open")', '+1', '-2', '@SUM(A1)', 'gpt-4o', 'a,b'].map((model) => ({ model, ...usage }));
    const csv = moneyCsv({ models } as never, 'model');
    const cells = csv.trim().split('\n').slice(1).map((line) => line.slice(0, line.indexOf(',1,2,3,')));
    expect(cells).toEqual([`"'=HYPERLINK(""https://evil.example"",""open"")"`, "'+1", "'-2", "'@SUM(A1)", 'gpt-4o', '"a,b"']);
  });
});
