/**
 * Runs the embedded S3 server as its own process (tests and benchmarks use
 * this so the server does not share an event loop with what it measures).
 * Usage: node dist/demo/s3-server-main.js DIRECTORY [PORT]
 * Prints one JSON line {endpoint, port, accessKeyId, secretAccessKey} when ready.
 * ANNEXD_S3_REQUEST_LOG=FILE logs every request to FILE.
 * ANNEXD_S3_WITHOUT=CALL,… (or "all") leaves multipart calls s3rver lacks
 * (ListMultipartUploads, ListParts, AbortMultipartUpload) out, as plain s3rver.
 */
import { MULTIPART_CALLS, startEmbeddedS3, type MultipartCall } from './s3-server.js';

const [directory, port] = process.argv.slice(2);
if (!directory) {
  process.stderr.write('usage: s3-server-main DIRECTORY [PORT]\n');
  process.exit(2);
}
const withoutSpec = process.env.ANNEXD_S3_WITHOUT ?? '';
const without = withoutSpec === 'all' ? [...MULTIPART_CALLS] : withoutSpec.split(',').filter(Boolean);
const unknown = without.filter((c) => !(MULTIPART_CALLS as readonly string[]).includes(c));
if (unknown.length) {
  process.stderr.write(`ANNEXD_S3_WITHOUT: unknown call ${unknown.join(', ')} (known: all, ${MULTIPART_CALLS.join(', ')})\n`);
  process.exit(2);
}
const server = await startEmbeddedS3({
  directory,
  port: port ? Number(port) : 0,
  accessKeyId: process.env.ANNEXD_S3_ACCESS_KEY_ID,
  secretAccessKey: process.env.ANNEXD_S3_SECRET_ACCESS_KEY,
  requestLog: process.env.ANNEXD_S3_REQUEST_LOG,
  without: without as MultipartCall[],
});
const { close, ...info } = server;
process.stdout.write(JSON.stringify(info) + '\n');
const stop = (): void => {
  void close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
