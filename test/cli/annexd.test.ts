/**
 * The annexd command line as a user (or a script) runs it: exit codes 0/1/2,
 * every usage error pointing at the --help that explains it, and --json
 * failures readable as JSON on stdout.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { BIN_DIR } from '../support/tools.js';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox({ DBUS_SESSION_BUS_ADDRESS: '' });
});
afterAll(async () => sandbox?.cleanup());

function annexd(...args: string[]): Promise<ExecResult> {
  return exec(join(BIN_DIR, 'annexd'), args, { env: sandbox.env, cwd: sandbox.dir, input: '' });
}

describe('annexd', () => {
  it('with no arguments prints the usage on stderr and exits 2, as any usage error', async () => {
    const r = await annexd();
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: annexd COMMAND/);
  });

  it('answers --help, help COMMAND and --version on stdout with exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await annexd(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: annexd COMMAND/);
    }
    const h = await annexd('help', 'credentials');
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage:\n {2}annexd credentials set/);
    const v = await annexd('--version');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^annexd \d+\.\d+\.\d+\n$/);
  });

  it('points every usage error at the --help that explains it, in one line, exit 2', async () => {
    const cases: Array<[string[], RegExp, string]> = [
      [['frobnicate'], /unknown command "frobnicate"/, 'annexd --help'],
      [['help', 'frobnicate'], /no help on "frobnicate"/, 'annexd --help'],
      [['credentials'], /credentials needs an action/, 'annexd credentials --help'],
      [['credentials', 'get'], /credentials get needs a NAME/, 'annexd credentials --help'],
      [['credentials', 'list', '--bogus'], /Unknown option '--bogus'/, 'annexd credentials --help'],
      [['credentials', 'list', '--store', 'file'], /--store does not apply to credentials list/, 'annexd credentials --help'],
      [['credentials', 'remove', 'a', 'b'], /credentials remove takes one NAME/, 'annexd credentials --help'],
      [['demo', '--big-mib', 'lots'], /--big-mib must be a whole number/, 'annexd demo --help'],
    ];
    for (const [args, message, help] of cases) {
      const r = await annexd(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().endsWith(`(see ${help})`), `${args.join(' ')}: ${r.stderr}`).toBe(true);
    }
  });

  it('prints a JSON error object on stdout for every --json failure, usage errors included', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['credentials', 'get', 'nope', '--json'], 1, /no credential named "nope"/],
      [['credentials', 'remove', 'nope', '--json'], 1, /no credential named "nope"/],
      [['credentials', 'get', '--json'], 2, /credentials get needs a NAME/],
      [['credentials', 'bogus', '--json'], 2, /unknown credentials action "bogus"/],
      [['frobnicate', '--json'], 2, /unknown command "frobnicate"/],
    ];
    for (const [args, code, message] of cases) {
      const r = await annexd(...args);
      expect(r.code, args.join(' ')).toBe(code);
      const parsed = JSON.parse(r.stdout) as { error: string; exitCode: number; help?: string };
      expect(parsed.error).toMatch(message);
      expect(parsed.exitCode).toBe(code);
      if (code === 2) expect(parsed.help).toMatch(/^annexd .*--help$/);
      expect(r.stderr).toMatch(message);
    }
  });
});
