/** "bytes 100-199/1000" → { start: 100, total: 1000 }; the answer to a ranged GET, as every HTTP backend reads it. */
export function parseContentRange(value: string | string[] | undefined): { start: number; total: number | undefined } | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(text ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}
