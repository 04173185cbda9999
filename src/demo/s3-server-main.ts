/**
 * Runs the embedded S3 server as its own process (tests and benchmarks use
 * this so the server does not share an event loop with what it measures).
 * Usage: node dist/demo/s3-server-main.js DIRECTORY [PORT]
 * Prints one JSON line {endpoint, port, accessKeyId, secretAccessKey} when ready.
 * ANNEXD_S3_REQUEST_LOG=FILE logs every request to FILE.
 * ANNEXD_S3_PLAIN_S3RVER=1 leaves out the multipart calls s3rver lacks
 * (ListMultipartUploads, ListParts, AbortMultipartUpload), as plain s3rver.
 */
import { startEmbeddedS3 } from './s3-server.js';

const [directory, port] = process.argv.slice(2);
if (!directory) {
  process.stderr.write('usage: s3-server-main DIRECTORY [PORT]\n');
  process.exit(2);
}
const server = await startEmbeddedS3({
  directory,
  port: port ? Number(port) : 0,
  accessKeyId: process.env.ANNEXD_S3_ACCESS_KEY_ID,
  secretAccessKey: process.env.ANNEXD_S3_SECRET_ACCESS_KEY,
  requestLog: process.env.ANNEXD_S3_REQUEST_LOG,
  plainS3rver: process.env.ANNEXD_S3_PLAIN_S3RVER === '1',
});
const { close, ...info } = server;
process.stdout.write(JSON.stringify(info) + '\n');
const stop = (): void => {
  void close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
