/** Raw bytes on the wire, line framing across chunks, and malformed requests. */
import { describe, expect, it } from 'vitest';
import { WireName } from '../../src/protocol/wire.js';
import { FakeRemote } from './fake-remote.js';
import { started } from './transcript.js';

const KEY = 'SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt';
/** Builds exact bytes from text (UTF-8), raw byte values and buffers. */
const b = (...parts: Array<string | number[] | Buffer>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

describe('byte safety', () => {
  it('passes a non-UTF-8 TRANSFER file path with spaces to the remote byte for byte', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    const file = b('../sub dir/caf', [0xe9], ' ', [0xff, 0xfe], 'x y');
    t.send(b(`TRANSFER STORE ${KEY} `, file));
    await t.expectLine(`TRANSFER-SUCCESS STORE ${KEY}`);
    t.send(b(`TRANSFER RETRIEVE ${KEY} `, file));
    await t.expectLine(`TRANSFER-SUCCESS RETRIEVE ${KEY}`);
    expect(fake.callsOf('store')[0]?.[1]).toEqual(file);
    expect(fake.callsOf('retrieve')[0]?.[1]).toEqual(file);
    await t.close();
  });

  it('echoes a UTF-8 key byte for byte and gives the remote its text', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    const key = 'SHA256E-s3--0123abcd.été.日本';
    t.send(`TRANSFER STORE ${key} /tmp/x`);
    expect(await t.nextBytes()).toEqual(b(`TRANSFER-SUCCESS STORE ${key}`));
    t.send(`CHECKPRESENT ${key}`);
    expect(await t.nextBytes()).toEqual(b(`CHECKPRESENT-SUCCESS ${key}`));
    expect(fake.callsOf('store')[0]?.[0]).toBe(key);
    await t.close();
  });

  it('echoes a key that is not UTF-8 byte for byte in its failure reply', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    const key = b('SHA256E-s3--abc.', [0xff]);
    t.send(b('TRANSFER STORE ', key, ' /tmp/x'));
    expect(await t.nextBytes()).toEqual(b('TRANSFER-FAILURE STORE ', key, ' key is not valid UTF-8'));
    t.send(b('CHECKPRESENT ', key));
    expect(await t.nextBytes()).toEqual(b('CHECKPRESENT-UNKNOWN ', key, ' key is not valid UTF-8'));
    t.send(b('REMOVE ', key));
    expect(await t.nextBytes()).toEqual(b('REMOVE-FAILURE ', key, ' key is not valid UTF-8'));
    expect(fake.callsOf('store')).toHaveLength(0);
    await t.close();
  });

  it('passes non-UTF-8 export names with spaces as exact bytes (WireName)', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    const name = b('dir/my ', [0xff], ' file.jpg');
    const renamed = b('dir/new ', [0xc3], 'name');
    t.send(b('EXPORT ', name));
    t.send(`TRANSFEREXPORT STORE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-SUCCESS STORE ${KEY}`);
    t.send(b('EXPORT ', name));
    t.send(b(`RENAMEEXPORT ${KEY} `, renamed));
    await t.expectLine(`RENAMEEXPORT-SUCCESS ${KEY}`);
    t.send(b('REMOVEEXPORTDIRECTORY ', name));
    await t.expectLine('REMOVEEXPORTDIRECTORY-SUCCESS');

    const stored = fake.callsOf('exportStore')[0]?.[0] as WireName;
    expect(stored.bytes).toEqual(name);
    expect(stored.text).toBeUndefined();
    const [from, , to] = fake.callsOf('exportRename')[0] ?? [];
    expect((from as WireName).bytes).toEqual(name);
    expect((to as WireName).bytes).toEqual(renamed);
    expect((fake.callsOf('exportRemoveDirectory')[0]?.[0] as WireName).bytes).toEqual(name);
    expect([...fake.exported.keys()]).toEqual([renamed.toString('latin1')]);
    await t.close();
  });

  it('parses a line split across chunks, and two lines in one chunk', async () => {
    const fake = new FakeRemote();
    fake.objects.set(KEY, Buffer.from('x'));
    const t = await started(fake);
    t.sendRaw('CHECKPRES');
    await t.expectSilence(20);
    t.sendRaw(`ENT ${KEY}\n`);
    await t.expectLine(`CHECKPRESENT-SUCCESS ${KEY}`);

    t.sendRaw(`CHECKPRESENT ${KEY}\nCHECKPRESENT ${KEY}.gone\n`);
    await t.expectLines(`CHECKPRESENT-SUCCESS ${KEY}`, `CHECKPRESENT-FAILURE ${KEY}.gone`);

    // A chunk boundary inside a multi-byte character, and one right before the newline.
    const path = b('/tmp/é');
    t.sendRaw(b(`TRANSFER STORE ${KEY} `, path.subarray(0, 6)));
    t.sendRaw(path.subarray(6));
    t.sendRaw('\n');
    await t.expectLine(`TRANSFER-SUCCESS STORE ${KEY}`);
    expect(fake.callsOf('store')[0]?.[1]).toEqual(path);
    await t.close();
  });

  it('reads an answer that arrives split across chunks', async () => {
    const fake = new FakeRemote();
    let bucket = '';
    fake.hooks.prepare = async ({ annex }) => {
      bucket = await annex.getConfig('bucket');
    };
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('GETCONFIG bucket');
    t.sendRaw('VAL');
    t.sendRaw('UE pho');
    t.sendRaw('tos\n');
    await t.expectLine('PREPARE-SUCCESS');
    expect(bucket).toBe('photos');
    await t.close();
  });
});

describe('malformed requests', () => {
  it('TRANSFER with an unknown direction gets ERROR malformed, and the session carries on', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send(`TRANSFER FOO ${KEY} /tmp/x`);
    await t.expectLine('ERROR malformed TRANSFER request (unknown direction "FOO" (expected STORE or RETRIEVE))');
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-SUCCESS STORE ${KEY}`);
    expect(fake.callsOf('store')).toHaveLength(1);
    await t.close();
  });

  it('CHECKPRESENT without a key gets ERROR malformed, and the session carries on', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('CHECKPRESENT');
    expect(await t.nextLine()).toMatch(/^ERROR malformed CHECKPRESENT request \(.+\)$/);
    t.send('CHECKPRESENT ');
    expect(await t.nextLine()).toMatch(/^ERROR malformed CHECKPRESENT request \(.+\)$/);
    t.send(`CHECKPRESENT ${KEY} trailing`);
    await t.expectLine('ERROR malformed CHECKPRESENT request (a key never contains a space)');
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-FAILURE ${KEY}`);
    expect(fake.callsOf('checkPresent')).toEqual([[KEY]]);
    await t.close();
  });

  it('PREPARE with a parameter gets ERROR malformed and does not prepare', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('PREPARE extra');
    await t.expectLine('ERROR malformed PREPARE request (expected 0 parameters)');
    expect(fake.callsOf('prepare')).toHaveLength(0);
    // Trailing whitespace alone is allowed after a request without parameters.
    t.send('PREPARE  ');
    await t.expectLine('PREPARE-SUCCESS');
    await t.close();
  });

  it('TRANSFER with too few parameters gets ERROR malformed', async () => {
    const t = await started(new FakeRemote());
    t.send(`TRANSFER STORE ${KEY}`);
    await t.expectLine('ERROR malformed TRANSFER request (expected 3 parameters)');
    t.send('GETAVAILABILITY');
    await t.expectLine('UNSUPPORTED-REQUEST');
    await t.close();
  });

  it('an empty line is an unknown request, and the next request is answered', async () => {
    const t = await started(new FakeRemote());
    t.send('');
    t.send('PREPARE');
    await t.expectLines('UNSUPPORTED-REQUEST', 'PREPARE-SUCCESS');
    await t.close();
  });
});
