/**
 * `npm run app`: Tollchat, a small AI app billed by Tollgate. Starts it (start.ts), makes the
 * demo people on a fresh database (seed.ts), and prints where to go and how to log in.
 */
import { existsSync } from 'node:fs';
import { DEMO } from './seed.ts';
import { startApp } from './start.ts';

if (existsSync('.env')) process.loadEnvFile('.env');

let app: Awaited<ReturnType<typeof startApp>>;
try {
  app = await startApp(process.env, { seed: true });
} catch (error) {
  console.error(`Tollchat cannot start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
const { url, generated, seeded } = app;
const lines = [
  `Tollchat — an AI app billed by Tollgate (${app.tollgate.mode === 'in-process' ? 'in this process' : `at ${process.env.TOLLGATE_URL}`})`,
  '',
  `app:          ${url}`,
  `  log in as   ${DEMO.owner.email} / ${DEMO.owner.password}   (owner of "${DEMO.team.name}")${seeded ? '' : ', made on an earlier start'}`,
  `           or ${DEMO.member.email} / ${DEMO.member.password}   (member, capped at $0.002 a day: about ten answers)`,
  `           or sign up as someone new`,
];
if (app.tollgate.mode === 'in-process') {
  lines.push(
    `admin panel:  ${url}/admin   (password: ${generated.adminPassword ?? 'the one printed on the first start, or TOLLGATE_ADMIN_PASSWORD'})`,
    `API:          ${url}/v1      (key: ${generated.apiKey ?? 'the one printed on the first start, or TOLLGATE_SECRET_KEY'})`,
  );
}
console.log(`${lines.join('\n')}\n`);

const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
