/**
 * The annexd command line. Each subcommand lives in commands/; errors are one
 * clear line on stderr; exit codes: 0 success, 1 failure, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { redact } from '../util/redact.js';
import { CredentialError } from '../credentials/model.js';
import { UsageError, type Command } from './command.js';
import { credentialsCommand } from './commands/credentials.js';
import { demoCommand } from './commands/demo.js';

const COMMANDS: Command[] = [credentialsCommand, demoCommand];

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

Run "annexd COMMAND --help" for a command's options.
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(target ? target.help : overview());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`annexd ${version()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help);
    return 0;
  }
  return command.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const usage = err instanceof UsageError;
  // Unexpected errors (bugs) keep their stack for reports; expected ones are one line.
  if (!usage && !(err instanceof CredentialError) && process.env.ANNEXD_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
  process.stderr.write(`annexd: ${redact(err instanceof Error ? err.message : String(err))}${usage ? ' (see annexd --help)' : ''}\n`);
  process.exitCode = usage ? 2 : 1;
}
