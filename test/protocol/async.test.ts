/** The ASYNC extension: `J n` tagging, concurrent jobs, per-job state. */
import { describe, expect, it } from 'vitest';
import { AnnexQueryError } from '../../src/protocol/errors.js';
import { WireName } from '../../src/protocol/wire.js';
import { FakeRemote, gate } from './fake-remote.js';
import { started } from './transcript.js';

const K1 = 'SHA256E-s1--aaaa.jpg';
const K2 = 'SHA256E-s2--bbbb.jpg';

describe('ASYNC', () => {
  it('tags every reply and query with the job number, but not VERSION or EXTENSIONS', async () => {
    const fake = new FakeRemote();
    fake.hooks.prepare = async ({ annex }) => {
      await annex.getConfig('bucket');
    };
    const t = await started(fake, 'INFO ASYNC');
    t.send('J 1 PREPARE');
    await t.expectLine('J 1 GETCONFIG bucket');
    t.send('J 1 VALUE photos');
    await t.expectLine('J 1 PREPARE-SUCCESS');
    t.send('J 1 LISTCONFIGS');
    await t.expectLines('J 1 CONFIG bucket bucket to use', 'J 1 CONFIGEND');
    t.send('J 1 GETORDERED');
    await t.expectLine('J 1 UNSUPPORTED-REQUEST');
    await t.close();
  });

  it('interleaves two jobs and routes each answer to the job that asked', async () => {
    const fake = new FakeRemote();
    const got: Record<string, string> = {};
    fake.hooks.store = async (key, _file, { annex }) => {
      got[key] = await annex.getConfig('chunk');
    };
    fake.hooks.checkPresent = async (key, { annex }) => {
      got[key] = await annex.getConfig('chunk');
      return true;
    };
    const t = await started(fake, 'ASYNC');
    t.send('J 1 PREPARE');
    await t.expectLine('J 1 PREPARE-SUCCESS');

    t.send(`J 1 TRANSFER STORE ${K1} /tmp/one`);
    await t.expectLine('J 1 GETCONFIG chunk');
    // Job 1 waits for its answer while job 2 asks the same question and finishes first.
    t.send(`J 2 CHECKPRESENT ${K2}`);
    await t.expectLine('J 2 GETCONFIG chunk');
    t.send('J 2 VALUE 2MiB');
    await t.expectLine(`J 2 CHECKPRESENT-SUCCESS ${K2}`);
    t.send('J 1 VALUE 1MiB');
    await t.expectLine(`J 1 TRANSFER-SUCCESS STORE ${K1}`);
    expect(got).toEqual({ [K1]: '1MiB', [K2]: '2MiB' });
    await t.close();
  });

  it('a slow job does not hold up replies to other jobs', async () => {
    const fake = new FakeRemote();
    const slow = gate();
    fake.hooks.store = async () => slow.wait;
    const t = await started(fake, 'ASYNC');
    t.send(`J 1 TRANSFER STORE ${K1} /tmp/one`);
    t.send(`J 2 CHECKPRESENT ${K2}`);
    await t.expectLine(`J 2 CHECKPRESENT-FAILURE ${K2}`);
    slow.open();
    await t.expectLine(`J 1 TRANSFER-SUCCESS STORE ${K1}`);
    await t.close();
  });

  it('reuses job numbers for later requests', async () => {
    const fake = new FakeRemote();
    const t = await started(fake, 'ASYNC');
    t.send(`J 1 TRANSFER STORE ${K1} /tmp/one`);
    await t.expectLine(`J 1 TRANSFER-SUCCESS STORE ${K1}`);
    t.send(`J 1 CHECKPRESENT ${K1}`);
    await t.expectLine(`J 1 CHECKPRESENT-SUCCESS ${K1}`);
    t.send(`J 2 REMOVE ${K1}`);
    await t.expectLine(`J 2 REMOVE-SUCCESS ${K1}`);
    t.send(`J 1 CHECKPRESENT ${K1}`);
    await t.expectLine(`J 1 CHECKPRESENT-FAILURE ${K1}`);
    await t.close();
  });

  it('keeps EXPORT state per job', async () => {
    const fake = new FakeRemote();
    const t = await started(fake, 'ASYNC');
    t.send('J 1 EXPORT photos/a.jpg');
    t.send('J 2 EXPORT photos/b.jpg');
    t.send(`J 2 TRANSFEREXPORT STORE ${K2} /tmp/two`);
    await t.expectLine(`J 2 TRANSFER-SUCCESS STORE ${K2}`);
    t.send(`J 1 TRANSFEREXPORT STORE ${K1} /tmp/one`);
    await t.expectLine(`J 1 TRANSFER-SUCCESS STORE ${K1}`);
    expect(Object.fromEntries(fake.exported)).toEqual({ 'photos/a.jpg': K1, 'photos/b.jpg': K2 });
    const names = fake.callsOf('exportStore').map(([name, key]) => [(name as WireName).text, key]);
    expect(names).toEqual([
      ['photos/b.jpg', K2],
      ['photos/a.jpg', K1],
    ]);
    await t.close();
  });

  it('shares one PREPARE across jobs (remote.prepare runs once)', async () => {
    const fake = new FakeRemote();
    const ready = gate();
    fake.hooks.prepare = async () => ready.wait;
    const t = await started(fake, 'ASYNC');
    t.send('J 1 PREPARE');
    t.send('J 2 PREPARE');
    t.send(`J 3 CHECKPRESENT ${K1}`);
    await t.expectSilence();
    ready.open();
    const replies = [await t.nextLine(), await t.nextLine(), await t.nextLine()].sort();
    expect(replies).toEqual(['J 1 PREPARE-SUCCESS', 'J 2 PREPARE-SUCCESS', `J 3 CHECKPRESENT-FAILURE ${K1}`]);
    t.send(`J 4 TRANSFER STORE ${K1} /tmp/one`);
    await t.expectLine(`J 4 TRANSFER-SUCCESS STORE ${K1}`);
    expect(fake.callsOf('prepare')).toHaveLength(1);
    await t.close();
  });

  it('a job-tagged ERROR answer reaches only the job that asked', async () => {
    const fake = new FakeRemote();
    const outcome: Record<string, string> = {};
    fake.hooks.checkPresent = async (key, { annex }) => {
      try {
        outcome[key] = await annex.getUUID();
      } catch (err) {
        outcome[key] = err instanceof AnnexQueryError ? `refused: ${err.annexMessage}` : 'other';
      }
      return false;
    };
    const t = await started(fake, 'ASYNC');
    t.send(`J 1 CHECKPRESENT ${K1}`);
    await t.expectLine('J 1 GETUUID');
    t.send(`J 2 CHECKPRESENT ${K2}`);
    await t.expectLine('J 2 GETUUID');
    t.send('J 2 ERROR cannot send GETUUID here');
    await t.expectLine(`J 2 CHECKPRESENT-FAILURE ${K2}`);
    t.send('J 1 VALUE 1234-uuid');
    await t.expectLine(`J 1 CHECKPRESENT-FAILURE ${K1}`);
    expect(outcome).toEqual({ [K1]: '1234-uuid', [K2]: 'refused: cannot send GETUUID here' });
    await t.close();
  });

  it('an untagged ERROR answers the one query that is waiting', async () => {
    const fake = new FakeRemote();
    fake.hooks.prepare = async ({ annex }) => {
      await annex.getState(K1);
    };
    const t = await started(fake, 'ASYNC');
    t.send('J 3 PREPARE');
    await t.expectLine(`J 3 GETSTATE ${K1}`);
    t.send('ERROR cannot send GETSTATE here');
    await t.expectLine('J 3 PREPARE-FAILURE git-annex refused GETSTATE: cannot send GETSTATE here');
    await t.close();
  });

  it('ignores an untagged request in ASYNC mode and carries on', async () => {
    const fake = new FakeRemote();
    const t = await started(fake, 'ASYNC');
    t.send(`CHECKPRESENT ${K1}`);
    t.send(`J 1 CHECKPRESENT ${K1}`);
    await t.expectLine(`J 1 CHECKPRESENT-FAILURE ${K1}`);
    expect(fake.callsOf('checkPresent')).toHaveLength(1);
    expect(t.logs.join('\n')).toContain('without a job number');
    await t.close();
  });
});
