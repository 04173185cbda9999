/**
 * The file name CHECKURL suggests to `git annex addurl`: the server's
 * Content-Disposition when it gives one, else the URL path's last segment.
 * Reduced to one safe path segment either way.
 */

/** "%C3%A9t%C3%A9" → its bytes; a stray "%" stays as it is. */
function percentDecode(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(text.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** filename*=UTF-8''… (RFC 6266/5987) wins over filename="…". */
export function dispositionFilename(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const extended = /filename\*\s*=\s*([\w!#$&+.^`|~-]+)'[^']*'([^;\s]+)/i.exec(value);
  if (extended?.[1] && extended[2]) {
    const bytes = percentDecode(extended[2]);
    return bytes.toString(extended[1].toLowerCase() === 'utf-8' ? 'utf8' : 'latin1');
  }
  const quoted = /(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(value);
  if (quoted?.[1] !== undefined) return quoted[1].replace(/\\(.)/g, '$1');
  const token = /(?:^|;)\s*filename\s*=\s*([^;\s"]+)/i.exec(value);
  return token?.[1];
}

/** The last non-empty path segment, percent-decoded. */
export function urlFilename(url: string): string | undefined {
  const segments = new URL(url).pathname.split('/').filter(Boolean);
  const last = segments[segments.length - 1];
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** One path segment, no control characters, not hidden, not "." or "..". */
export function safeFilename(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').replace(/^\.+/, '').trim();
  return clean === '' ? undefined : clean;
}
