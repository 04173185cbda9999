/** Secrets never reach git-annex; EOF on stdin ends the session promptly and quietly. */
import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../src/protocol/errors.js';
import { registerSecret } from '../../src/util/redact.js';
import { FakeRemote, gate, sleep } from './fake-remote.js';
import { started, Transcript } from './transcript.js';

const KEY = 'SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt';
// Registered once for this file: the registry is process-wide.
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
registerSecret(SECRET);

/** Polls until `cond` holds; the engine gives no event for "handler started". */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

describe('secrets', () => {
  it('are replaced by *** in failure replies, DEBUG, INFO, GETINFO values and logs', async () => {
    const fake = new FakeRemote();
    fake.hooks.initRemote = async () => {
      throw new RemoteError(`invalid secret key "${SECRET}"`);
    };
    fake.hooks.store = async (_key, _file, { annex }) => {
      await annex.debug(`signing with ${SECRET}`);
      await annex.info(`key=${SECRET}\nagain ${SECRET}`);
      throw new Error(`SignatureDoesNotMatch: string to sign used ${SECRET}`);
    };
    fake.hooks.checkPresent = async () => {
      throw new Error(`403 for ${SECRET}`);
    };
    fake.getInfo = async () => [['secret key', SECRET]];
    fake.getCost = async () => {
      throw new Error(`bug: leaked ${SECRET}`);
    };
    fake.hooks.exportRemoveDirectory = async () => {
      throw new Error(`denied for ${SECRET}`);
    };
    const t = await started(fake, 'INFO');
    t.send('INITREMOTE');
    await t.expectLine('INITREMOTE-FAILURE invalid secret key "***"');
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLines(
      'DEBUG signing with ***',
      'INFO key=*** \\n again ***',
      `TRANSFER-FAILURE STORE ${KEY} SignatureDoesNotMatch: string to sign used ***`,
    );
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-UNKNOWN ${KEY} 403 for ***`);
    t.send('GETINFO');
    await t.expectLines('INFOFIELD secret key', 'INFOVALUE ***', 'INFOEND');
    t.send('GETCOST');
    await t.expectLine('ERROR bug: leaked ***');
    t.send('REMOVEEXPORTDIRECTORY d');
    await t.expectLine('REMOVEEXPORTDIRECTORY-FAILURE');
    await t.close();

    const everything = Buffer.concat(t.received.map((l) => Buffer.concat([l, Buffer.from('\n')])));
    expect(everything.includes(SECRET)).toBe(false);
    expect(t.logs.join('\n')).not.toContain(SECRET);
    expect(t.logs.join('\n')).toContain('***');
  });

  it('are redacted in PREPARE-FAILURE and in the DEBUG fallback for INFO', async () => {
    const fake = new FakeRemote();
    fake.hooks.prepare = async ({ annex }) => {
      await annex.info(`using ${SECRET}`);
      throw new RemoteError(`bad credentials ${SECRET}`);
    };
    const t = await started(fake, '');
    t.send('PREPARE');
    await t.expectLines('DEBUG using ***', 'PREPARE-FAILURE bad credentials ***');
    await t.close();
  });
});

describe('shutdown', () => {
  it('EOF aborts a long store, run() resolves promptly, and nothing is written after EOF', async () => {
    const fake = new FakeRemote();
    let signal: AbortSignal | undefined;
    fake.hooks.store = async (_key, _file, ctx) => {
      signal = ctx.signal;
      await sleep(60_000, ctx.signal);
    };
    const t = await started(fake);
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await until(() => signal !== undefined, 'store started');
    await t.expectSilence();
    const before = t.received.length;

    const start = Date.now();
    await t.close();
    expect(Date.now() - start).toBeLessThan(1000);
    expect(signal?.aborted).toBe(true);
    expect(fake.closed).toBe(1);
    await sleep(50);
    expect(t.received.slice(before).map(String)).toEqual([]);
  });

  it('nothing is written after EOF by a request that was waiting for an answer', async () => {
    const fake = new FakeRemote();
    let asked = false;
    fake.hooks.checkPresent = async (_key, { annex }) => {
      asked = true;
      return (await annex.getConfig('bucket')) !== '';
    };
    const t = await started(fake);
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine('GETCONFIG bucket');
    expect(asked).toBe(true);
    const before = t.received.length;
    await t.close();
    await sleep(50);
    expect(t.received.slice(before).map(String)).toEqual([]);
  });

  it('nothing is written after EOF by a request that finishes during the shutdown grace period', async () => {
    const fake = new FakeRemote();
    const release = gate();
    let started_ = false;
    fake.hooks.remove = async () => {
      started_ = true;
      // Ignores the abort signal, like a handler stuck in a non-cancellable call.
      await release.wait;
    };
    const t = await started(fake);
    t.send(`REMOVE ${KEY}`);
    await until(() => started_, 'remove started');
    const before = t.received.length;
    t.input.end();
    await sleep(20);
    release.open();
    await t.done;
    await sleep(20);
    expect(t.received.slice(before).map(String)).toEqual([]);
  });

  it('does not act on an unterminated line at EOF (it may be a truncated key)', async () => {
    const fake = new FakeRemote();
    fake.objects.set('SHA256E-s10-S1-C1--abc', Buffer.from('x'));
    const t = await started(fake);
    // "REMOVE SHA256E-s10-S1-C12--abc" cut short would name another chunk.
    t.sendRaw('REMOVE SHA256E-s10-S1-C1');
    await t.close();
    expect(fake.calls).toEqual([]);
    expect(fake.objects.size).toBe(1);
    expect(t.pendingLines()).toEqual([]);
    expect(t.logs.join('\n')).toMatch(/ignoring 24 bytes/);
  });

  it('EOF during the handshake ends the session', async () => {
    const fake = new FakeRemote();
    const t = new Transcript(fake);
    await t.expectLine('VERSION 2');
    await t.close();
    expect(t.received.map(String)).toEqual(['VERSION 2']);
    expect(fake.calls).toEqual([]);
  });

  it('an untagged ERROR from git-annex with no query waiting ends the session', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    t.send('ERROR something went wrong');
    // run() returns although stdin is still open.
    await Promise.race([
      t.done,
      sleep(2000).then(() => {
        throw new Error('run() did not return after ERROR');
      }),
    ]);
    expect(t.logs.join('\n')).toContain('something went wrong');
    expect(t.pendingLines()).toEqual([]);
  });
});
