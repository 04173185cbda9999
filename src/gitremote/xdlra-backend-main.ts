/**
 * git-annex-backend-XDLRA: the external backend (git-annex's backend protocol
 * version 1) for the two keys of a deposit, as datalad-next's: git-annex asks
 * it to verify a download. A refs file ends in " HEAD\n"; an archive is a ZIP.
 * Content changes under the same key, so the keys are not stable.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';

async function looksLike(file: string): Promise<string | undefined> {
  const st = await stat(file);
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    if (head.readUInt32LE(0) === 0x04034b50 || head.readUInt32LE(0) === 0x06054b50) return 'XDLRA--repo-export';
  } finally {
    await fh.close();
  }
  if (st.size < 16 * 1024 * 1024 && (await readFile(file, 'utf8')).endsWith(' HEAD\n')) return 'XDLRA--refs';
  return undefined;
}

const out = (s: string): void => void process.stdout.write(s + '\n');
const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, ...rest] = line.split(' ');
  try {
    if (cmd === 'GETVERSION') out('VERSION 1');
    else if (cmd === 'CANVERIFY') out('CANVERIFY-YES');
    else if (cmd === 'ISSTABLE') out('ISSTABLE-NO');
    else if (cmd === 'ISCRYPTOGRAPHICALLYSECURE') out('ISCRYPTOGRAPHICALLYSECURE-NO');
    else if (cmd === 'GENKEY') {
      const key = await looksLike(rest.join(' '));
      out(key ? `GENKEY-SUCCESS ${key}` : 'GENKEY-FAILURE not a refs file or repository archive of a deposit');
    } else if (cmd === 'VERIFYKEYCONTENT') {
      const [key, ...file] = rest;
      out((await looksLike(file.join(' '))) === key ? 'VERIFYKEYCONTENT-SUCCESS' : 'VERIFYKEYCONTENT-FAILURE');
    } else if (cmd === 'ERROR') process.exit(1);
    else out('UNSUPPORTED-REQUEST');
  } catch {
    out(cmd === 'GENKEY' ? 'GENKEY-FAILURE unreadable file' : 'VERIFYKEYCONTENT-FAILURE');
  }
}
