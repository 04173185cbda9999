import { describe, expect, it } from 'vitest';
import { FakeRemote } from './fake-remote.js';
import { Transcript } from './transcript.js';

describe('handshake', () => {
  it('speaks first with VERSION 2, before git-annex says anything', async () => {
    const t = new Transcript(new FakeRemote());
    expect(await t.nextLine()).toBe('VERSION 2');
    await t.expectSilence();
    await t.close();
  });

  it('announces VERSION 1 when asked to', async () => {
    const t = new Transcript(new FakeRemote(), { version: 1 });
    await t.expectLine('VERSION 1');
    await t.close();
  });

  it('replies with the intersection of the offer, in our own order', async () => {
    const t = new Transcript(new FakeRemote());
    // UNAVAILABLERESPONSE is offered but not ours; our order is INFO ASYNC GETGITREMOTENAME.
    expect(await t.handshake('INFO GETGITREMOTENAME ASYNC UNAVAILABLERESPONSE')).toBe(
      'EXTENSIONS INFO ASYNC GETGITREMOTENAME',
    );
    await t.close();
  });

  it('names nothing that was not offered (10.20230126 offers INFO only here)', async () => {
    const t = new Transcript(new FakeRemote());
    expect(await t.handshake('INFO DELEGATE')).toBe('EXTENSIONS INFO');
    await t.close();
  });

  it('replies a bare EXTENSIONS, without a trailing space, when offered nothing', async () => {
    const t = new Transcript(new FakeRemote());
    expect(await t.handshake('')).toBe('EXTENSIONS');
    // Without ASYNC, the next request is answered untagged.
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    await t.close();
  });

  it('options.extensions restricts what is accepted', async () => {
    const t = new Transcript(new FakeRemote(), { extensions: ['INFO'] });
    expect(await t.handshake('INFO GETGITREMOTENAME ASYNC')).toBe('EXTENSIONS INFO');
    // ASYNC was offered but refused, so replies are untagged.
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    await t.close();
  });

  it('options.extensions = [] accepts nothing', async () => {
    const t = new Transcript(new FakeRemote(), { extensions: [] });
    expect(await t.handshake('INFO GETGITREMOTENAME ASYNC')).toBe('EXTENSIONS');
    await t.close();
  });

  it('works when git-annex skips EXTENSIONS and sends a request first', async () => {
    const t = new Transcript(new FakeRemote());
    await t.expectLine('VERSION 2');
    t.send('LISTCONFIGS');
    await t.expectLines('CONFIG bucket bucket to use', 'CONFIGEND');
    await t.close();
  });

  it('answers a second EXTENSIONS without renegotiating', async () => {
    const t = new Transcript(new FakeRemote());
    expect(await t.handshake('INFO')).toBe('EXTENSIONS INFO');
    t.send('EXTENSIONS INFO ASYNC');
    await t.expectLine('EXTENSIONS');
    // ASYNC was not switched on by the second offer.
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    await t.close();
  });

  it('carries on after "ERROR unsupported VERSION" sent before the handshake', async () => {
    const t = new Transcript(new FakeRemote());
    await t.expectLine('VERSION 2');
    t.send('ERROR unsupported VERSION');
    t.send('EXTENSIONS INFO');
    await t.expectLine('EXTENSIONS INFO');
    expect(t.logs.join('\n')).toContain('unsupported VERSION');
    await t.close();
  });
});
