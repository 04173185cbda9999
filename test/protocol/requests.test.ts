/** Every request git-annex sends, and every reply form, without ASYNC. */
import { describe, expect, it } from 'vitest';
import { RemoteError } from '../../src/protocol/errors.js';
import { WireName } from '../../src/protocol/wire.js';
import { FakeRemote } from './fake-remote.js';
import { started } from './transcript.js';

const KEY = 'SHA256E-s5--2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.txt';
const KEY2 = 'MD5-s3--acbd18db4cc2f85cedef654fccc4a4d8';

describe('INITREMOTE', () => {
  it('replies INITREMOTE-SUCCESS after initRemote resolves', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('INITREMOTE');
    await t.expectLine('INITREMOTE-SUCCESS');
    expect(fake.callsOf('initRemote')).toHaveLength(1);
    // INITREMOTE does not need PREPARE.
    expect(fake.callsOf('prepare')).toHaveLength(0);
    await t.close();
  });

  it('replies INITREMOTE-FAILURE with the error message', async () => {
    const fake = new FakeRemote();
    fake.hooks.initRemote = async () => {
      throw new RemoteError('bucket "photos" does not exist');
    };
    const t = await started(fake);
    t.send('INITREMOTE');
    await t.expectLine('INITREMOTE-FAILURE bucket "photos" does not exist');
    await t.close();
  });
});

describe('PREPARE', () => {
  it('replies PREPARE-SUCCESS', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    expect(fake.callsOf('prepare')).toHaveLength(1);
    await t.close();
  });

  it('replies PREPARE-FAILURE with the message, and a later PREPARE tries again', async () => {
    const fake = new FakeRemote();
    let attempts = 0;
    fake.hooks.prepare = async () => {
      attempts++;
      if (attempts === 1) throw new RemoteError('no credentials for bucket photos');
    };
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('PREPARE-FAILURE no credentials for bucket photos');
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    expect(attempts).toBe(2);
    // Once prepared, it stays prepared: requests do not prepare again.
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-FAILURE ${KEY}`);
    expect(attempts).toBe(2);
    await t.close();
  });

  it('a request that needs PREPARE prepares implicitly, and reports a failed PREPARE in its own reply', async () => {
    const fake = new FakeRemote();
    fake.hooks.prepare = async () => {
      throw new RemoteError('endpoint unreachable');
    };
    const t = await started(fake);
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-UNKNOWN ${KEY} endpoint unreachable`);
    t.send(`TRANSFER STORE ${KEY} /tmp/obj`);
    await t.expectLine(`TRANSFER-FAILURE STORE ${KEY} endpoint unreachable`);
    t.send(`REMOVE ${KEY}`);
    await t.expectLine(`REMOVE-FAILURE ${KEY} endpoint unreachable`);
    // Each request retried the failed PREPARE; none reached the remote's operations.
    expect(fake.callsOf('prepare')).toHaveLength(3);
    expect(fake.callsOf('checkPresent')).toHaveLength(0);
    await t.close();
  });
});

describe('TRANSFER', () => {
  it('STORE then RETRIEVE succeed and echo direction and key', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');
    t.send(`TRANSFER STORE ${KEY} .git/annex/objects/xx/yy/${KEY}/${KEY}`);
    await t.expectLine(`TRANSFER-SUCCESS STORE ${KEY}`);
    // File is the rest of the line, spaces included.
    t.send(`TRANSFER RETRIEVE ${KEY} ../.git/annex/tmp/a file with spaces`);
    await t.expectLine(`TRANSFER-SUCCESS RETRIEVE ${KEY}`);
    const [storeKey, storeFile] = fake.callsOf('store')[0] ?? [];
    expect(storeKey).toBe(KEY);
    expect(storeFile).toEqual(Buffer.from(`.git/annex/objects/xx/yy/${KEY}/${KEY}`));
    expect(fake.callsOf('retrieve')[0]?.[1]).toEqual(Buffer.from('../.git/annex/tmp/a file with spaces'));
    await t.close();
  });

  it('RETRIEVE failure carries the message', async () => {
    const t = await started(new FakeRemote());
    t.send(`TRANSFER RETRIEVE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-FAILURE RETRIEVE ${KEY} ${KEY} is not stored here`);
    await t.close();
  });

  it('STORE failure puts a multi-line error message on one line', async () => {
    const fake = new FakeRemote();
    fake.hooks.store = async () => {
      throw new Error('upload failed\nHTTP 503\r\nSlow Down\n\n');
    };
    const t = await started(fake);
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-FAILURE STORE ${KEY} upload failed \\n HTTP 503 \\n Slow Down \\n  \\n`);
    // No fragment of the message leaked onto a line of its own.
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-FAILURE ${KEY}`);
    await t.close();
  });

  it('a failure with an empty message still says something', async () => {
    const fake = new FakeRemote();
    fake.hooks.store = async () => {
      throw '';
    };
    const t = await started(fake);
    t.send(`TRANSFER STORE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-FAILURE STORE ${KEY} failed (no reason given)`);
    await t.close();
  });
});

describe('CHECKPRESENT and REMOVE', () => {
  it('CHECKPRESENT answers SUCCESS, FAILURE, and UNKNOWN when the remote throws', async () => {
    const fake = new FakeRemote();
    fake.objects.set(KEY, Buffer.from('x'));
    const t = await started(fake);
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-SUCCESS ${KEY}`);
    t.send(`CHECKPRESENT ${KEY2}`);
    await t.expectLine(`CHECKPRESENT-FAILURE ${KEY2}`);
    fake.hooks.checkPresent = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:9000');
    };
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-UNKNOWN ${KEY} connect ECONNREFUSED 127.0.0.1:9000`);
    await t.close();
  });

  it('REMOVE succeeds for present and absent keys, and fails with the message', async () => {
    const fake = new FakeRemote();
    fake.objects.set(KEY, Buffer.from('x'));
    const t = await started(fake);
    t.send(`REMOVE ${KEY}`);
    await t.expectLine(`REMOVE-SUCCESS ${KEY}`);
    expect(fake.objects.has(KEY)).toBe(false);
    t.send(`REMOVE ${KEY2}`);
    await t.expectLine(`REMOVE-SUCCESS ${KEY2}`);
    fake.hooks.remove = async () => {
      throw new RemoteError('access denied');
    };
    t.send(`REMOVE ${KEY}`);
    await t.expectLine(`REMOVE-FAILURE ${KEY} access denied`);
    await t.close();
  });
});

describe('configuration and information requests', () => {
  it('LISTCONFIGS sends CONFIG lines then CONFIGEND, descriptions on one line', async () => {
    const fake = new FakeRemote();
    fake.configs = [
      { name: 'bucket', description: 'S3 bucket name' },
      { name: 'region', description: 'region\nof the bucket' },
    ];
    const t = await started(fake);
    t.send('LISTCONFIGS');
    await t.expectLines('CONFIG bucket S3 bucket name', 'CONFIG region region \\n of the bucket', 'CONFIGEND');
    expect(fake.callsOf('prepare')).toHaveLength(0);
    await t.close();
  });

  it('LISTCONFIGS with no settings is just CONFIGEND', async () => {
    const fake = new FakeRemote();
    fake.configs = [];
    const t = await started(fake);
    t.send('LISTCONFIGS');
    await t.expectLine('CONFIGEND');
    await t.close();
  });

  it('GETCOST and GETAVAILABILITY', async () => {
    const fake = new FakeRemote();
    fake.getCost = async () => 175;
    fake.getAvailability = async () => 'LOCAL';
    const t = await started(fake);
    t.send('GETCOST');
    await t.expectLine('COST 175');
    t.send('GETAVAILABILITY');
    await t.expectLine('AVAILABILITY LOCAL');
    await t.close();
  });

  it('CLAIMURL succeeds or fails (a throwing claimUrl does not claim)', async () => {
    const fake = new FakeRemote();
    fake.claimUrl = async (url) => {
      if (url.startsWith('boom:')) throw new Error('boom');
      return url.startsWith('s3://');
    };
    const t = await started(fake);
    t.send('CLAIMURL s3://bucket/key');
    await t.expectLine('CLAIMURL-SUCCESS');
    t.send('CLAIMURL https://example.com/x');
    await t.expectLine('CLAIMURL-FAILURE');
    t.send('CLAIMURL boom:x');
    await t.expectLine('CLAIMURL-FAILURE');
    await t.close();
  });

  it('CHECKURL answers CONTENTS with a size, with UNKNOWN size, MULTI, and FAILURE', async () => {
    const fake = new FakeRemote();
    const seen: string[] = [];
    fake.checkUrl = async (url) => {
      seen.push(url);
      if (url.endsWith('/sized')) return { kind: 'contents', size: 1048576, filename: 'my file.bin' };
      if (url.endsWith('/unsized')) return { kind: 'contents' };
      if (url.endsWith('/dir'))
        return {
          kind: 'multi',
          entries: [
            { url: 's3://b/dir/a', size: 10, filename: 'a' },
            { url: 's3://b/dir/b', filename: 'b' },
          ],
        };
      throw new RemoteError('404 Not Found');
    };
    const t = await started(fake);
    t.send('CHECKURL s3://b/sized');
    await t.expectLine('CHECKURL-CONTENTS 1048576 my file.bin');
    t.send('CHECKURL s3://b/unsized');
    await t.expectLine('CHECKURL-CONTENTS UNKNOWN');
    t.send('CHECKURL s3://b/dir');
    await t.expectLine('CHECKURL-MULTI s3://b/dir/a 10 a s3://b/dir/b UNKNOWN b');
    t.send('CHECKURL s3://b/missing');
    await t.expectLine('CHECKURL-FAILURE 404 Not Found');
    expect(seen).toEqual(['s3://b/sized', 's3://b/unsized', 's3://b/dir', 's3://b/missing']);
    await t.close();
  });

  it('CHECKURL-MULTI refuses entries that would not survive word splitting', async () => {
    const fake = new FakeRemote();
    const refused = 'CHECKURL-FAILURE CHECKURL-MULTI cannot carry URLs or file names that are empty or contain spaces';
    fake.checkUrl = async (url) => ({
      kind: 'multi',
      entries: url.endsWith('spaced')
        ? [{ url: 's3://b/a', filename: 'a b' }]
        : // git-annex reads "u1 UNKNOWN  u2 UNKNOWN b" with `words`: u2 would become u1's file name.
          [
            { url: 's3://b/u1', filename: '' },
            { url: 's3://b/u2', filename: 'b' },
          ],
    });
    const t = await started(fake);
    t.send('CHECKURL s3://b/spaced');
    await t.expectLine(refused);
    t.send('CHECKURL s3://b/empty');
    await t.expectLine(refused);
    await t.close();
  });

  it('WHEREIS answers SUCCESS with the rest of the line, or FAILURE', async () => {
    const fake = new FakeRemote();
    fake.whereis = async (key) => (key === KEY ? `s3://bucket/${key} (public)` : undefined);
    const t = await started(fake);
    t.send(`WHEREIS ${KEY}`);
    await t.expectLine(`WHEREIS-SUCCESS s3://bucket/${KEY} (public)`);
    t.send(`WHEREIS ${KEY2}`);
    await t.expectLine('WHEREIS-FAILURE');
    await t.close();
  });

  it('GETINFO sends INFOFIELD/INFOVALUE pairs in order, then INFOEND', async () => {
    const fake = new FakeRemote();
    fake.getInfo = async () => [
      ['bucket', 'photos'],
      ['endpoint', 'https://s3.example.com'],
      ['note', ''],
    ];
    const t = await started(fake);
    t.send('GETINFO');
    await t.expectLines(
      'INFOFIELD bucket',
      'INFOVALUE photos',
      'INFOFIELD endpoint',
      'INFOVALUE https://s3.example.com',
      'INFOFIELD note',
      'INFOVALUE ',
      'INFOEND',
    );
    await t.close();
  });
});

describe('optional methods and unknown requests', () => {
  it('missing optional methods answer UNSUPPORTED-REQUEST or their documented default', async () => {
    const fake = new FakeRemote();
    fake.exporter = undefined;
    const t = await started(fake);
    t.send('GETCOST');
    await t.expectLine('UNSUPPORTED-REQUEST');
    t.send('GETAVAILABILITY');
    await t.expectLine('UNSUPPORTED-REQUEST');
    t.send('CHECKURL https://example.com/');
    await t.expectLine('UNSUPPORTED-REQUEST');
    t.send(`TRANSFEREXPORT STORE ${KEY} /tmp/x`);
    await t.expectLine('UNSUPPORTED-REQUEST');
    // These have a reply that means "no" and git-annex treats it the same way.
    t.send('CLAIMURL https://example.com/');
    await t.expectLine('CLAIMURL-FAILURE');
    t.send(`WHEREIS ${KEY}`);
    await t.expectLine('WHEREIS-FAILURE');
    t.send('GETINFO');
    await t.expectLine('INFOEND');
    t.send('EXPORTSUPPORTED');
    await t.expectLine('EXPORTSUPPORTED-FAILURE');
    await t.close();
  });

  it('an unknown request gets UNSUPPORTED-REQUEST and the session keeps working', async () => {
    const fake = new FakeRemote();
    fake.objects.set(KEY, Buffer.from('x'));
    const t = await started(fake);
    t.send('GETORDERED');
    await t.expectLine('UNSUPPORTED-REQUEST');
    t.send('FROBNICATE some args here');
    await t.expectLine('UNSUPPORTED-REQUEST');
    t.send(`CHECKPRESENT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-SUCCESS ${KEY}`);
    await t.close();
  });
});

describe('export', () => {
  it('EXPORTSUPPORTED succeeds with an exporter, without PREPARE', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('EXPORTSUPPORTED');
    await t.expectLine('EXPORTSUPPORTED-SUCCESS');
    fake.exportSupported = () => false;
    t.send('EXPORTSUPPORTED');
    await t.expectLine('EXPORTSUPPORTED-FAILURE');
    expect(fake.callsOf('prepare')).toHaveLength(0);
    await t.close();
  });

  it('EXPORT has no reply and names the file for the next request', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('PREPARE');
    await t.expectLine('PREPARE-SUCCESS');

    t.send('EXPORT dir/my photo.jpg');
    await t.expectSilence();
    t.send(`CHECKPRESENTEXPORT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-FAILURE ${KEY}`);

    t.send('EXPORT dir/my photo.jpg');
    t.send(`TRANSFEREXPORT STORE ${KEY} .git/annex/objects/aa/bb/k/k`);
    await t.expectLine(`TRANSFER-SUCCESS STORE ${KEY}`);
    expect([...fake.exported]).toEqual([['dir/my photo.jpg', KEY]]);

    t.send('EXPORT dir/my photo.jpg');
    t.send(`CHECKPRESENTEXPORT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-SUCCESS ${KEY}`);

    t.send('EXPORT dir/my photo.jpg');
    t.send(`TRANSFEREXPORT RETRIEVE ${KEY} .git/annex/tmp/k`);
    await t.expectLine(`TRANSFER-SUCCESS RETRIEVE ${KEY}`);

    t.send('EXPORT dir/my photo.jpg');
    t.send(`RENAMEEXPORT ${KEY} .git-annex-tmp-content-${KEY}`);
    await t.expectLine(`RENAMEEXPORT-SUCCESS ${KEY}`);
    expect([...fake.exported]).toEqual([[`.git-annex-tmp-content-${KEY}`, KEY]]);

    t.send(`EXPORT .git-annex-tmp-content-${KEY}`);
    t.send(`REMOVEEXPORT ${KEY}`);
    await t.expectLine(`REMOVE-SUCCESS ${KEY}`);
    expect(fake.exported.size).toBe(0);

    const [name, key, file] = fake.callsOf('exportStore')[0] ?? [];
    expect(name).toBeInstanceOf(WireName);
    expect((name as WireName).text).toBe('dir/my photo.jpg');
    expect(key).toBe(KEY);
    expect(file).toEqual(Buffer.from('.git/annex/objects/aa/bb/k/k'));
    await t.close();
  });

  it('export failures use the matching failure replies', async () => {
    const fake = new FakeRemote();
    const t = await started(fake);
    t.send('EXPORT nothing/here');
    t.send(`TRANSFEREXPORT RETRIEVE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-FAILURE RETRIEVE ${KEY} nothing/here is not exported`);
    t.send('EXPORT nothing/here');
    t.send(`RENAMEEXPORT ${KEY} elsewhere`);
    await t.expectLine(`RENAMEEXPORT-FAILURE ${KEY}`);
    fake.hooks.exportStore = async () => {
      throw new RemoteError('quota exceeded');
    };
    t.send('EXPORT a');
    t.send(`TRANSFEREXPORT STORE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-FAILURE STORE ${KEY} quota exceeded`);
    await t.close();
  });

  it('REMOVEEXPORTDIRECTORY needs no EXPORT and answers SUCCESS or FAILURE without parameters', async () => {
    const fake = new FakeRemote();
    fake.exported.set('sub/a', KEY);
    fake.exported.set('sub/deeper/b', KEY2);
    fake.exported.set('other', KEY2);
    const t = await started(fake);
    t.send('REMOVEEXPORTDIRECTORY sub');
    await t.expectLine('REMOVEEXPORTDIRECTORY-SUCCESS');
    expect([...fake.exported.keys()]).toEqual(['other']);
    // Already gone: still a success.
    t.send('REMOVEEXPORTDIRECTORY sub');
    await t.expectLine('REMOVEEXPORTDIRECTORY-SUCCESS');
    fake.hooks.exportRemoveDirectory = async () => {
      throw new RemoteError('permission denied');
    };
    t.send('REMOVEEXPORTDIRECTORY sub');
    await t.expectLine('REMOVEEXPORTDIRECTORY-FAILURE');
    expect(t.logs.join('\n')).toContain('permission denied');
    await t.close();
  });

  it('export requests without a preceding EXPORT fail instead of reusing a stale name', async () => {
    const fake = new FakeRemote();
    fake.exported.set('old', KEY);
    const t = await started(fake);
    t.send(`TRANSFEREXPORT STORE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-FAILURE STORE ${KEY} TRANSFEREXPORT without a preceding EXPORT`);
    t.send(`CHECKPRESENTEXPORT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-UNKNOWN ${KEY} CHECKPRESENTEXPORT without a preceding EXPORT`);
    t.send(`REMOVEEXPORT ${KEY}`);
    await t.expectLine(`REMOVE-FAILURE ${KEY} REMOVEEXPORT without a preceding EXPORT`);
    t.send(`RENAMEEXPORT ${KEY} new`);
    await t.expectLine(`RENAMEEXPORT-FAILURE ${KEY}`);

    // An EXPORT names exactly one request: the second one has no name again.
    t.send('EXPORT old');
    t.send(`CHECKPRESENTEXPORT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-SUCCESS ${KEY}`);
    t.send(`CHECKPRESENTEXPORT ${KEY}`);
    await t.expectLine(`CHECKPRESENT-UNKNOWN ${KEY} CHECKPRESENTEXPORT without a preceding EXPORT`);
    expect(fake.callsOf('exportStore')).toHaveLength(0);
    expect(fake.callsOf('exportRemove')).toHaveLength(0);
    await t.close();
  });

  it('RENAMEEXPORT without rename() is UNSUPPORTED-REQUEST, so git-annex falls back', async () => {
    const fake = new FakeRemote();
    const ex = fake.exporter;
    if (!ex) throw new Error('fake has an exporter');
    fake.exporter = { ...ex, rename: undefined };
    const t = await started(fake);
    t.send('EXPORT a');
    t.send(`RENAMEEXPORT ${KEY} b`);
    await t.expectLine('UNSUPPORTED-REQUEST');
    // The fallback: EXPORT + REMOVEEXPORT, EXPORT + TRANSFEREXPORT.
    t.send('EXPORT a');
    t.send(`REMOVEEXPORT ${KEY}`);
    await t.expectLine(`REMOVE-SUCCESS ${KEY}`);
    t.send('EXPORT b');
    t.send(`TRANSFEREXPORT STORE ${KEY} /tmp/x`);
    await t.expectLine(`TRANSFER-SUCCESS STORE ${KEY}`);
    expect([...fake.exported]).toEqual([['b', KEY]]);
    await t.close();
  });
});
