/** "90" (seconds), "90s", "15m", "2h", "1h30m" → milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(h|m|s)/g;
  let ms = 0;
  let matched = '';
  for (const m of s.matchAll(re)) {
    ms += Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1000 }[m[2] as 'h' | 'm' | 's'];
    matched += m[0];
  }
  if (!matched || matched !== s) throw new Error(`cannot read "${text}" as a duration (e.g. 90s, 15m, 2h, 1h30m)`);
  return ms;
}
