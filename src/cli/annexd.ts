/**
 * The annexd command line. Each subcommand lives in commands/; errors are one
 * clear line on stderr; exit codes: 0 success, 1 failure, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { redact } from '../util/redact.js';
import { CredentialError } from '../credentials/model.js';
import { RemoteError } from '../protocol/errors.js';
import { out, UsageError, wantsJson, type Command } from './command.js';
import { addArchiveContentCommand } from './commands/add-archive-content.js';
import { createSiblingCommand } from './commands/create-sibling.js';
import { createSiblingOsfCommand } from './commands/create-sibling-osf.js';
import { createSiblingS3Command } from './commands/create-sibling-s3.js';
import { createSiblingWebdavCommand } from './commands/create-sibling-webdav.js';
import { credentialsCommand } from './commands/credentials.js';
import { demoCommand } from './commands/demo.js';
import { devServerCommand } from './commands/dev-server.js';
import { pushCommand } from './commands/push.js';
import { s3UploadsCommand } from './commands/s3-uploads.js';
import { siblingsCommand } from './commands/siblings.js';
import { syncCommand } from './commands/sync.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { DaemonError } from '../daemon/errors.js';
import { OrchestrationError } from '../orchestration/errors.js';
import { FileLockError } from '../util/file-lock.js';

const COMMANDS: Command[] = [
  addArchiveContentCommand,
  createSiblingCommand,
  createSiblingOsfCommand,
  createSiblingS3Command,
  createSiblingWebdavCommand,
  credentialsCommand,
  demoCommand,
  devServerCommand,
  pushCommand,
  s3UploadsCommand,
  serveCommand,
  siblingsCommand,
  statusCommand,
  syncCommand,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `Usage: annexd COMMAND [OPTIONS]

annexd: fast, tested git-annex special remotes and transport tools.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Special remotes (run by git-annex, see README.md):
  git-annex-remote-annexd-s3      S3 and S3-compatible object stores
  git-annex-remote-annexd-webdav  WebDAV servers
  git-annex-remote-annexd-http    web sources over http(s), read-only
  git-annex-remote-annexd-archive files inside annexed tar and zip archives, read-only
  git-annex-remote-datalad-archives  the same, as a drop-in for DataLad's datalad-archives
  git-annex-remote-annexd-osf     OSF Storage (osf.io projects), datalad-osf's layout
  git-annex-remote-osf            the same, as a drop-in for datalad-osf's remote

Git remote helpers (run by git for these URLs, see README.md):
  git-remote-osf                  osf://NODEID: a dataset's history deposited on OSF
  git-remote-datalad-annex        datalad-annex::?type=…: the same on any special remote

Run "annexd COMMAND --help" for a command's options.
Exit codes: 0 done, 1 failed, 2 usage error, 130 interrupted (Ctrl-C).
With --json, a failure also prints {"error": MESSAGE, "exitCode": N} on stdout.
`;
}

/** Runs one command line; returns the exit code. Usage errors are thrown as UsageError. */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // Nothing asked: the overview, but as the usage error it is (a script calling annexd wrongly must notice).
    process.stderr.write(overview());
    return 2;
  }
  if (name === '--help' || name === '-h') {
    process.stdout.write(overview());
    return 0;
  }
  if (name === 'help') {
    const [topic, ...extra] = rest;
    if (topic === undefined) {
      process.stdout.write(overview());
      return 0;
    }
    const target = COMMANDS.find((c) => c.name === topic);
    if (!target) throw new UsageError(`no help on "${topic}": not a command (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    if (extra.length) throw new UsageError('help takes one COMMAND');
    process.stdout.write(target.help);
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`annexd ${version()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  const end = rest.indexOf('--');
  const options = end === -1 ? rest : rest.slice(0, end);
  if (options.includes('--help') || options.includes('-h')) {
    process.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) err.helpFor ??= command.name;
    throw err;
  }
}

/** Failures the user can act on: one line, no stack. Anything else is a bug and keeps its stack under ANNEXD_DEBUG. */
const expected = (err: unknown): boolean =>
  err instanceof UsageError || err instanceof CredentialError || err instanceof RemoteError || err instanceof OrchestrationError || err instanceof FileLockError ||
  err instanceof DaemonError;

const argv = process.argv.slice(2);
try {
  process.exitCode = await main(argv);
} catch (err) {
  const usage = err instanceof UsageError;
  if (!expected(err) && process.env.ANNEXD_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
  const message = redact(err instanceof Error ? err.message : String(err));
  const exitCode = usage ? 2 : 1;
  process.stderr.write(`annexd: ${message}${usage ? ` (see ${err.helpCommand})` : ''}\n`);
  // A script that asked for JSON reads stdout: it gets the failure there too, as JSON.
  if (wantsJson(argv.slice(1))) {
    out(JSON.stringify(usage ? { error: message, exitCode, help: err.helpCommand } : { error: message, exitCode }));
  }
  process.exitCode = exitCode;
}
