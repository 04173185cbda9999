/**
 * Protocol lines are raw bytes: git-annex specifies no encoding, and file paths
 * or export names may be any bytes. We decode every line as latin1, which maps
 * each byte to one UTF-16 code unit and back losslessly ("wire strings"), and
 * convert a field to real text or to bytes only where its meaning is known.
 */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The exact bytes of a wire string. */
export function wireBytes(wire: string): Buffer {
  return Buffer.from(wire, 'latin1');
}

/** The wire string of text that we send (text is sent as UTF-8). */
export function textToWire(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Decodes a wire field as UTF-8; undefined when the bytes are not valid UTF-8. */
export function wireToText(wire: string): string | undefined {
  try {
    return strictUtf8.decode(wireBytes(wire));
  } catch {
    return undefined;
  }
}

/** For messages shown to people: invalid UTF-8 sequences become U+FFFD. */
export function wireToDisplay(wire: string): string {
  return wireBytes(wire).toString('utf8');
}

/**
 * A field whose bytes matter (an export name, a path inside a remote): keeps the
 * bytes, and offers the text form only when it exists.
 */
export class WireName {
  constructor(readonly wire: string) {}

  get bytes(): Buffer {
    return wireBytes(this.wire);
  }

  /** The UTF-8 text, or undefined when the name is not valid UTF-8. */
  get text(): string | undefined {
    return wireToText(this.wire);
  }

  /** Human-readable form for messages (lossy for invalid UTF-8). */
  toString(): string {
    return wireToDisplay(this.wire);
  }
}
