/**
 * Messages a remote sends while it handles a request, and git-annex's answers.
 * Each test runs a handler (a hook of the fake) that talks to git-annex, and
 * plays git-annex's side of the conversation.
 */
import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../src/protocol/contract.js';
import { AnnexQueryError } from '../../src/protocol/errors.js';
import { FakeRemote } from './fake-remote.js';
import { started } from './transcript.js';

const KEY = 'SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt';

/** A fake whose PREPARE runs `handler`, keeping what it returns. */
function preparing<T>(handler: (ctx: RequestContext) => Promise<T>): { fake: FakeRemote; result: () => T } {
  const fake = new FakeRemote();
  let value: { v: T } | undefined;
  fake.hooks.prepare = async (ctx) => {
    value = { v: await handler(ctx) };
  };
  return {
    fake,
    result: () => {
      if (!value) throw new Error('the handler did not finish');
      return value.v;
    },
  };
}

describe('queries during a request', () => {
  it('GETCONFIG returns the value, and the empty string for "VALUE " and a bare "VALUE"', async () => {
    const { fake, result } = preparing(async ({ annex }) => [
      await annex.getConfig('bucket'),
      await annex.getConfig('region'),
      await annex.getConfig('endpoint'),
      await annex.getConfig('comment'),
    ]);
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('GETCONFIG bucket');
    t.send('VALUE photos');
    await t.expectLine('GETCONFIG region');
    t.send('VALUE ');
    await t.expectLine('GETCONFIG endpoint');
    t.send('VALUE');
    await t.expectLine('GETCONFIG comment');
    // The value is the rest of the line, spaces included.
    t.send('VALUE two  spaced words ');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual(['photos', '', '', 'two  spaced words ']);
    await t.close();
  });

  it('SETCONFIG, SETCREDS, SETSTATE, SETWANTED and the URL messages get no answer', async () => {
    const { fake } = preparing(async ({ annex }) => {
      await annex.setConfig('region', 'eu west 1');
      await annex.setCreds('s3creds', 'AKIDEXAMPLE', 'pass word');
      await annex.setState(KEY, 'chunked 3');
      await annex.setWanted('include=*.jpg');
      await annex.setUrlPresent(KEY, 'https://bucket.example.com/k');
      await annex.setUrlMissing(KEY, 'https://bucket.example.com/old');
      await annex.setUriPresent(KEY, 's3://bucket/k');
      await annex.setUriMissing(KEY, 's3://bucket/old');
    });
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLines(
      'SETCONFIG region eu west 1',
      'SETCREDS s3creds AKIDEXAMPLE pass word',
      `SETSTATE ${KEY} chunked 3`,
      'SETWANTED include=*.jpg',
      `SETURLPRESENT ${KEY} https://bucket.example.com/k`,
      `SETURLMISSING ${KEY} https://bucket.example.com/old`,
      `SETURIPRESENT ${KEY} s3://bucket/k`,
      `SETURIMISSING ${KEY} s3://bucket/old`,
      'PREPARE-SUCCESS',
    );
    await t.close();
  });

  it('GETCREDS returns user and password (the rest of the line), or undefined for "CREDS  "', async () => {
    const { fake, result } = preparing(async ({ annex }) => [
      await annex.getCreds('s3creds'),
      await annex.getCreds('othercreds'),
    ]);
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('GETCREDS s3creds');
    t.send('CREDS AKIDEXAMPLE wJalr XUtnFEMI');
    await t.expectLine('GETCREDS othercreds');
    t.send('CREDS  ');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual([{ user: 'AKIDEXAMPLE', password: 'wJalr XUtnFEMI' }, undefined]);
    await t.close();
  });

  it('GETUUID, GETWANTED, GETSTATE, DIRHASH and DIRHASH-LOWER return their VALUE', async () => {
    const { fake, result } = preparing(async ({ annex }) => [
      await annex.getUUID(),
      await annex.getWanted(),
      await annex.getState(KEY),
      await annex.dirhash(KEY),
      await annex.dirhashLower(KEY),
    ]);
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('GETUUID');
    t.send('VALUE 5d8f4e2a-0000-4000-8000-0123456789ab');
    await t.expectLine('GETWANTED');
    t.send('VALUE include=*.jpg');
    await t.expectLine(`GETSTATE ${KEY}`);
    t.send('VALUE chunked 3');
    await t.expectLine(`DIRHASH ${KEY}`);
    t.send('VALUE pX/8G/');
    await t.expectLine(`DIRHASH-LOWER ${KEY}`);
    t.send('VALUE 381/82d/');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual(['5d8f4e2a-0000-4000-8000-0123456789ab', 'include=*.jpg', 'chunked 3', 'pX/8G/', '381/82d/']);
    await t.close();
  });

  it('GETGITDIR keeps the bytes of the path, even when they are not UTF-8', async () => {
    const { fake, result } = preparing(async ({ annex }) => annex.getGitDir());
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('GETGITDIR');
    const dir = Buffer.concat([Buffer.from('../caf'), Buffer.from([0xe9, 0xff]), Buffer.from(' dir/.git')]);
    t.send(Buffer.concat([Buffer.from('VALUE '), dir]));
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual(dir);
    await t.close();
  });

  it('GETURLS reads VALUE lines up to the empty VALUE terminator', async () => {
    const { fake, result } = preparing(async ({ annex }) => [
      await annex.getUrls(KEY, 'https://'),
      await annex.getUrls(KEY, ''),
    ]);
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine(`GETURLS ${KEY} https://`);
    t.send('VALUE https://a.example.com/k');
    t.send('VALUE https://b.example.com/k');
    t.send('VALUE ');
    // An empty prefix leaves a trailing space, as git-annex's unwords would.
    await t.expectLine(`GETURLS ${KEY} `);
    t.send('VALUE ');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual([['https://a.example.com/k', 'https://b.example.com/k'], []]);
    await t.close();
  });

  it('PROGRESS sends whole, non-negative byte counts', async () => {
    const fake = new FakeRemote();
    fake.hooks.store = async (_key, _file, { annex }) => {
      await annex.progress(0);
      await annex.progress(65536.9);
      await annex.progress(-3);
      await annex.progress(1048576);
    };
    const t = await started(fake);
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLines('PROGRESS 0', 'PROGRESS 65536', 'PROGRESS 0', 'PROGRESS 1048576', `TRANSFER-SUCCESS STORE ${KEY}`);
    await t.close();
  });

  it('DEBUG and INFO go out on one line; INFO is sent as INFO once negotiated', async () => {
    const fake = new FakeRemote();
    fake.hooks.store = async (_key, _file, { annex }) => {
      await annex.debug('HEAD bucket\n200 OK');
      await annex.info('uploading 1 of 3 parts');
    };
    const t = await started(fake, 'INFO');
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLines(
      'DEBUG HEAD bucket \\n 200 OK',
      'INFO uploading 1 of 3 parts',
      `TRANSFER-SUCCESS STORE ${KEY}`,
    );
    await t.close();
  });

  it('INFO falls back to DEBUG when the INFO extension was not negotiated', async () => {
    const fake = new FakeRemote();
    fake.hooks.store = async (_key, _file, { annex }) => {
      await annex.info('uploading 1 of 3 parts');
    };
    // Offered, but we declined it: git-annex would reject an INFO message.
    const t = await started(fake, 'INFO', { extensions: [] });
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLines('DEBUG uploading 1 of 3 parts', `TRANSFER-SUCCESS STORE ${KEY}`);
    await t.close();
  });

  it('GETGITREMOTENAME returns the name, undefined on ERROR, and is not sent unless negotiated', async () => {
    const { fake, result } = preparing(async ({ annex }) => [
      await annex.getGitRemoteName(),
      await annex.getGitRemoteName(),
    ]);
    const t = await started(fake, 'GETGITREMOTENAME');
    t.send('PREPARE');
    await t.expectLine('GETGITREMOTENAME');
    t.send('VALUE my-s3');
    await t.expectLine('GETGITREMOTENAME');
    // What 10.20230126 answers during INITREMOTE.
    t.send('ERROR git remote name not known');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual(['my-s3', undefined]);
    await t.close();

    const plain = preparing(async ({ annex }) => annex.getGitRemoteName());
    const t2 = await started(plain.fake, '');
    t2.send('PREPARE');
    await t2.expectLine('PREPARE-SUCCESS');
    expect(plain.result()).toBeUndefined();
    await t2.close();
  });

  it('queries sent at once by one handler go out one at a time, each getting its own answer', async () => {
    const { fake, result } = preparing(async ({ annex }) =>
      Promise.all([annex.getConfig('bucket'), annex.getUUID(), annex.getConfig('region')]),
    );
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('GETCONFIG bucket');
    // git-annex answers one query at a time: the next must wait for this answer.
    await t.expectSilence();
    t.send('VALUE photos');
    await t.expectLine('GETUUID');
    t.send('VALUE 1234-uuid');
    await t.expectLine('GETCONFIG region');
    t.send('VALUE eu-west-1');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual(['photos', '1234-uuid', 'eu-west-1']);
    await t.close();
  });

  it('an ERROR answer surfaces as AnnexQueryError, which the handler can catch', async () => {
    const { fake, result } = preparing(async ({ annex }) => {
      try {
        await annex.getUUID();
        return 'no error';
      } catch (err) {
        if (!(err instanceof AnnexQueryError)) throw err;
        // The session is still usable for further queries after the refusal.
        const bucket = await annex.getConfig('bucket');
        return `${err.query}: ${err.annexMessage}; bucket=${bucket}`;
      }
    });
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('GETUUID');
    t.send('ERROR cannot send GETUUID here');
    await t.expectLine('GETCONFIG bucket');
    t.send('VALUE photos');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toBe('GETUUID: cannot send GETUUID here; bucket=photos');
    await t.close();
  });

  it('an uncaught ERROR answer fails the request with a readable message', async () => {
    const fake = new FakeRemote();
    fake.hooks.store = async (_key, _file, { annex }) => {
      await annex.getState(KEY);
    };
    const t = await started(fake);
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLine(`GETSTATE ${KEY}`);
    t.send('ERROR cannot send GETSTATE here');
    await t.expectLine(`TRANSFER-FAILURE STORE ${KEY} git-annex refused GETSTATE: cannot send GETSTATE here`);
    await t.close();
  });

  it('an answer of the wrong kind fails the request instead of being misread', async () => {
    const fake = new FakeRemote();
    fake.hooks.checkPresent = async (_key, { annex }) => (await annex.getConfig('bucket')) !== '';
    const t = await started(fake);
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine('GETCONFIG bucket');
    t.send('CREDS a b');
    await t.expectLine(`CHECKPRESENT-UNKNOWN ${KEY} expected VALUE in answer to GETCONFIG, got "CREDS a b"`);
    await t.close();
  });

  it('refuses to send a value with a line break instead of splitting it into two messages', async () => {
    const { fake, result } = preparing(async ({ annex }) => {
      const errors: string[] = [];
      for (const send of [
        () => annex.setConfig('note', 'one\nGETUUID'),
        () => annex.setUrlPresent(KEY, 'https://example.com/a\r\nREMOVE x'),
        () => annex.getConfig('bad\nname'),
      ]) {
        await send().then(
          () => errors.push('sent'),
          (err: Error) => errors.push(err.message),
        );
      }
      return errors;
    });
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    expect(result()).toEqual([
      'cannot send SETCONFIG: a value contains a line break',
      'cannot send SETURLPRESENT: a value contains a line break',
      'cannot send GETCONFIG: a value contains a line break',
    ]);
    await t.close();
  });
});
