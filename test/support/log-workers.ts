/**
 * Worker processes that log through the server's logger into one stdout, as `npm start` with
 * WEB_CONCURRENCY does, for server-log.test.ts: each worker logs the lines asked at once, and
 * the primary says "logged" on stderr once all of them have.
 */
import cluster from 'node:cluster';
import { serverLogger } from '../../src/server/log.ts';

const [workers, lines] = [Number(process.argv[2]), Number(process.argv[3])];
if (cluster.isPrimary) {
  console.log('started'); // as the server's banner: the primary writes to the same stdout
  let logged = 0;
  for (let i = 0; i < workers; i++) cluster.fork().on('message', () => ++logged === workers && process.stderr.write('logged\n'));
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(0);
  });
} else {
  const logger = serverLogger('info');
  const pad = 'x'.repeat(200);
  for (let i = 0; i < lines; i++) logger.info({ worker: cluster.worker!.id, i, pad }, 'request');
  process.send!('logged');
  setInterval(() => {}, 60_000);
}
