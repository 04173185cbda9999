/**
 * Runs the OSF-compatible server as its own process (tests and benchmarks use
 * this so the server does not share an event loop with what it measures).
 * Usage: node dist/demo/osf-server-main.js DIRECTORY [PORT]
 * Prints one JSON line {api, wb, port, wbPort, token, userId} when ready,
 * then serves until SIGTERM/SIGINT. Options from the environment (never the
 * token in process arguments): ANNEXD_OSF_TOKEN, ANNEXD_OSF_PASSWORD (Basic auth
 * as dev@annexd.invalid), ANNEXD_OSF_LATENCY_MS,
 * ANNEXD_OSF_RATE_LIMIT (requests per ANNEXD_OSF_RATE_WINDOW_MS, default
 * 1000), ANNEXD_OSF_THROTTLE_EVERY=N (every Nth request gets 429),
 * ANNEXD_OSF_MAX_FILE_SIZE and ANNEXD_OSF_QUOTA (bytes),
 * ANNEXD_OSF_REQUEST_LOG=FILE (one line per request), ANNEXD_OSF_KEEP_CUT_UPLOADS=1
 * (what arrived of a cut upload becomes the file, as s3rver does),
 * ANNEXD_OSF_REDIRECT_DOWNLOADS=1 (downloads answer 302 to a signed URL on a storage host).
 * A line "stats" on stdin is answered with one JSON line of OsfServerStats
 * and the request records, for tests that count what a client sent.
 */
import { createInterface } from 'node:readline';
import { startOsfServer } from './osf-server.js';

const [directory, port] = process.argv.slice(2);
if (!directory) {
  process.stderr.write('usage: osf-server-main DIRECTORY [PORT]\n');
  process.exit(2);
}
const env = process.env;
const num = (name: string): number | undefined => {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) {
    process.stderr.write(`${name} must be a whole number, not "${v}"\n`);
    process.exit(2);
  }
  return Number(v);
};
const server = await startOsfServer({
  directory,
  port: port ? Number(port) : 0,
  token: env.ANNEXD_OSF_TOKEN || undefined,
  password: env.ANNEXD_OSF_PASSWORD || undefined,
  latencyMs: num('ANNEXD_OSF_LATENCY_MS'),
  rateLimit: num('ANNEXD_OSF_RATE_LIMIT'),
  rateWindowMs: num('ANNEXD_OSF_RATE_WINDOW_MS'),
  throttleEvery: num('ANNEXD_OSF_THROTTLE_EVERY'),
  maxFileSize: num('ANNEXD_OSF_MAX_FILE_SIZE'),
  quota: num('ANNEXD_OSF_QUOTA'),
  requestLog: env.ANNEXD_OSF_REQUEST_LOG || undefined,
  keepCutUploads: env.ANNEXD_OSF_KEEP_CUT_UPLOADS === '1',
  redirectDownloads: env.ANNEXD_OSF_REDIRECT_DOWNLOADS === '1',
});
const { api, wb, port: apiPort, wbPort, token, userId } = server;
process.stdout.write(JSON.stringify({ api, wb, port: apiPort, wbPort, token, userId }) + '\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(JSON.stringify({ stats: server.stats(), requests: server.requests() }) + '\n');
});
const stop = (): void => {
  void server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
