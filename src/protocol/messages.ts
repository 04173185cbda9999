/**
 * Parsing of requests from git-annex. The rule (git-annex Utility/SimpleProtocol):
 * the first word is the command; a command with N parameters takes N-1 single
 * words and then the whole rest of the line as its last parameter.
 */

export type Direction = 'STORE' | 'RETRIEVE';

export type Request =
  | { type: 'EXTENSIONS'; extensions: string[] }
  | { type: 'INITREMOTE' }
  | { type: 'PREPARE' }
  | { type: 'TRANSFER'; direction: Direction; key: string; file: string }
  | { type: 'CHECKPRESENT'; key: string }
  | { type: 'REMOVE'; key: string }
  | { type: 'LISTCONFIGS' }
  | { type: 'GETCOST' }
  | { type: 'GETAVAILABILITY' }
  | { type: 'CLAIMURL'; url: string }
  | { type: 'CHECKURL'; url: string }
  | { type: 'WHEREIS'; key: string }
  | { type: 'GETINFO' }
  | { type: 'EXPORTSUPPORTED' }
  | { type: 'EXPORT'; name: string }
  | { type: 'TRANSFEREXPORT'; direction: Direction; key: string; file: string }
  | { type: 'CHECKPRESENTEXPORT'; key: string }
  | { type: 'REMOVEEXPORT'; key: string }
  | { type: 'REMOVEEXPORTDIRECTORY'; directory: string }
  | { type: 'RENAMEEXPORT'; key: string; newName: string }
  | { type: 'ERROR'; message: string };

export type ParseResult =
  | { ok: true; request: Request }
  | { ok: false; unknown: true; command: string }
  | { ok: false; unknown: false; command: string; reason: string };

/** Number of parameters each known request takes. */
const ARITY: Record<Request['type'], number> = {
  EXTENSIONS: 1,
  INITREMOTE: 0,
  PREPARE: 0,
  TRANSFER: 3,
  CHECKPRESENT: 1,
  REMOVE: 1,
  LISTCONFIGS: 0,
  GETCOST: 0,
  GETAVAILABILITY: 0,
  CLAIMURL: 1,
  CHECKURL: 1,
  WHEREIS: 1,
  GETINFO: 0,
  EXPORTSUPPORTED: 0,
  EXPORT: 1,
  TRANSFEREXPORT: 3,
  CHECKPRESENTEXPORT: 1,
  REMOVEEXPORT: 1,
  REMOVEEXPORTDIRECTORY: 1,
  RENAMEEXPORT: 2,
  ERROR: 1,
};

/** Fields where an empty value is allowed (EXTENSIONS may list nothing). */
const MAY_BE_EMPTY = new Set<Request['type']>(['EXTENSIONS', 'ERROR']);

/** Splits "CMD a b rest of line" into the command and `arity` parameters. */
export function splitParams(
  line: string,
  arity: number,
): { command: string; params: string[] } | undefined {
  const space = line.indexOf(' ');
  const command = space === -1 ? line : line.slice(0, space);
  let rest = space === -1 ? '' : line.slice(space + 1);
  if (arity === 0) {
    // A request without parameters may carry trailing whitespace only.
    return rest.trim() === '' ? { command, params: [] } : undefined;
  }
  const params: string[] = [];
  for (let i = 0; i < arity - 1; i++) {
    const sp = rest.indexOf(' ');
    if (sp === -1) return undefined;
    params.push(rest.slice(0, sp));
    rest = rest.slice(sp + 1);
  }
  params.push(rest);
  return { command, params };
}

function isDirection(s: string): s is Direction {
  return s === 'STORE' || s === 'RETRIEVE';
}

/** Parses one request line (a wire string). */
export function parseRequest(line: string): ParseResult {
  const command = line.split(' ', 1)[0] ?? '';
  if (!Object.prototype.hasOwnProperty.call(ARITY, command)) {
    return { ok: false, unknown: true, command };
  }
  const type = command as Request['type'];
  const arity = ARITY[type];
  const split = splitParams(line, arity);
  const bad = (reason: string): ParseResult => ({ ok: false, unknown: false, command, reason });
  if (!split) {
    return bad(`expected ${arity} parameter${arity === 1 ? '' : 's'}`);
  }
  const p = split.params;
  if (!MAY_BE_EMPTY.has(type) && p.some((x) => x === '')) {
    return bad('empty parameter');
  }
  const [a = '', b = '', c = ''] = p;
  switch (type) {
    case 'EXTENSIONS':
      return { ok: true, request: { type, extensions: a.split(' ').filter(Boolean) } };
    case 'TRANSFER':
    case 'TRANSFEREXPORT':
      if (!isDirection(a)) return bad(`unknown direction "${a}" (expected STORE or RETRIEVE)`);
      return { ok: true, request: { type, direction: a, key: b, file: c } };
    case 'CHECKPRESENT':
    case 'REMOVE':
    case 'WHEREIS':
    case 'CHECKPRESENTEXPORT':
    case 'REMOVEEXPORT':
      if (a.includes(' ')) return bad('a key never contains a space');
      return { ok: true, request: { type, key: a } };
    case 'CLAIMURL':
    case 'CHECKURL':
      return { ok: true, request: { type, url: a } };
    case 'EXPORT':
      return { ok: true, request: { type, name: a } };
    case 'REMOVEEXPORTDIRECTORY':
      return { ok: true, request: { type, directory: a } };
    case 'RENAMEEXPORT':
      return { ok: true, request: { type, key: a, newName: b } };
    case 'ERROR':
      return { ok: true, request: { type, message: a } };
    default:
      return { ok: true, request: { type } as Request };
  }
}

/** Makes free text safe to put in one protocol field: no newlines, no CR. */
export function oneLine(text: string): string {
  return text.replace(/\r?\n|\r/g, ' \\n ').replace(/\s+$/, '');
}
