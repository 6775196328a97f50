import { InvalidInputError } from './errors.js';

/**
 * Opaque page tokens: base64url JSON of a keyset cursor plus a fingerprint of the query, so a
 * token is refused with the wrong filters instead of silently paging something else.
 */
export function encodePageToken(cursor: Record<string, string | number>, query: string): string {
  return Buffer.from(JSON.stringify({ ...cursor, q: query })).toString('base64url');
}

/** Refused tokens are `invalid_argument` naming `field` (page_token unless told). */
export function decodePageToken<T extends Record<string, string | number>>(token: string, query: string, shape: Record<keyof T, 'string' | 'number'>, field = 'page_token'): T {
  const invalid = (why: string) => new InvalidInputError(`${field} ${why}`, [{ field, description: why }]);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid('is not a token this service issued');
  }
  if (typeof parsed !== 'object' || parsed === null || parsed.q !== query) throw invalid('was issued for a different query');
  for (const [key, type] of Object.entries(shape)) {
    if (typeof parsed[key] !== type) throw invalid('is not a token this service issued');
  }
  return parsed as T;
}
