/** DIRHASH-LOWER computed by annexd: the same hash directories as git-annex's own, checked against git-annex. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirhashLower } from '../../src/remotes/core/keys.js';
import { AnnexRepo, createSandbox, type Sandbox } from '../support/annex.js';

let sandbox: Sandbox;
let repo: AnnexRepo;
beforeAll(async () => {
  sandbox = await createSandbox();
  repo = await AnnexRepo.create(sandbox, 'dirhash');
});
afterAll(() => sandbox.cleanup());

const KEYS = [
  'SHA256E-s4096--e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.txt',
  'SHA256E-s100-S10-C2--abc.bin',
  'SHA256E-s100-S10--abc.bin',
  'MD5-s0--d41d8cd98f00b204e9800998ecf8427e',
  'WORM-s5-m1700000000--a%b&c:d',
  'URL--http&c%%example.com%x',
  'URL-s12--https&c%%host%a-b--c',
  'BLAKE2B160E-s7-S3-C3--0123456789abcdef.tar.gz',
];

describe('dirhashLower', () => {
  it.each(KEYS)('matches git-annex for %s', async (key) => {
    const theirs = (await repo.ok('git', 'annex', 'examinekey', '--format=${hashdirlower}', key)).stdout;
    expect(dirhashLower(key)).toBe(theirs);
  });

  it('leaves a key that is not printable ASCII, or has no "--", to git-annex', () => {
    expect(dirhashLower('WORM-s5--caf\u00e9')).toBeUndefined();
    expect(dirhashLower('WORM-s5--a b')).toBeUndefined();
    expect(dirhashLower('SHA256E-s5')).toBeUndefined();
  });
});
