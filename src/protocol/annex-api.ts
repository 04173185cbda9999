/**
 * The AnnexApi of one job: turns typed calls into protocol messages and parses
 * the answers. Text goes out as UTF-8; answers are decoded as UTF-8 except
 * where bytes matter (GETGITDIR).
 */
import type { AnnexApi } from './contract.js';
import { expectCreds, expectValue, type Job } from './job.js';
import { oneLine } from './messages.js';
import { textToWire, wireBytes, wireToDisplay } from './wire.js';
import { redact } from '../util/redact.js';
import { AnnexQueryError } from './errors.js';

export interface NegotiatedExtensions {
  info: boolean;
  gitRemoteName: boolean;
}

const fromWire = wireToDisplay;

/**
 * A newline inside a value would end the message early and turn the rest into
 * a second, bogus message: refuse it instead of corrupting the conversation.
 */
function oneMessage(msg: string): string {
  if (/[\r\n]/.test(msg)) {
    throw new Error(`cannot send ${msg.split(' ', 1)[0]}: a value contains a line break`);
  }
  return msg;
}

export function createAnnexApi(job: Job, ext: NegotiatedExtensions): AnnexApi {
  const value = async (msg: string): Promise<string> => fromWire(await job.queryValue(textToWire(oneMessage(msg))));
  const tell = async (msg: string): Promise<void> => job.send(textToWire(oneMessage(msg)));

  return {
    getConfig: (name) => value(`GETCONFIG ${name}`),
    setConfig: (name, v) => tell(`SETCONFIG ${name} ${v}`),
    async getCreds(setting) {
      const [line = ''] = await job.query(textToWire(oneMessage(`GETCREDS ${setting}`)));
      const { user, password } = expectCreds(line);
      if (!user && !password) return undefined;
      return { user: fromWire(user), password: fromWire(password) };
    },
    setCreds: (setting, user, password) => tell(`SETCREDS ${setting} ${user} ${password}`),
    getUUID: () => value('GETUUID'),
    async getGitDir() {
      return wireBytes(await job.queryValue('GETGITDIR'));
    },
    async getGitRemoteName() {
      if (!ext.gitRemoteName) return undefined;
      try {
        const name = await value('GETGITREMOTENAME');
        return name || undefined;
      } catch (err) {
        // git-annex 10.20230126 answers ERROR during INITREMOTE.
        if (err instanceof AnnexQueryError) return undefined;
        throw err;
      }
    },
    dirhash: (key) => value(`DIRHASH ${key}`),
    dirhashLower: (key) => value(`DIRHASH-LOWER ${key}`),
    getState: (key) => value(`GETSTATE ${key}`),
    setState: (key, v) => tell(`SETSTATE ${key} ${v}`),
    getWanted: () => value('GETWANTED'),
    setWanted: (expr) => tell(`SETWANTED ${expr}`),
    setUrlPresent: (key, url) => tell(`SETURLPRESENT ${key} ${url}`),
    setUrlMissing: (key, url) => tell(`SETURLMISSING ${key} ${url}`),
    setUriPresent: (key, uri) => tell(`SETURIPRESENT ${key} ${uri}`),
    setUriMissing: (key, uri) => tell(`SETURIMISSING ${key} ${uri}`),
    async getUrls(key, prefix) {
      // Answered by VALUE lines, terminated by an empty VALUE.
      const lines = await job.query(textToWire(oneMessage(`GETURLS ${key} ${prefix}`)), (l) => expectValue(l, 'GETURLS') !== '');
      return lines.map((l) => fromWire(expectValue(l, 'GETURLS'))).filter((u) => u !== '');
    },
    progress: (bytes) => job.send(`PROGRESS ${Math.max(0, Math.floor(bytes))}`),
    debug: (msg) => tell(`DEBUG ${oneLine(redact(msg))}`),
    info: (msg) => tell(`${ext.info ? 'INFO' : 'DEBUG'} ${oneLine(redact(msg))}`),
  };
}
