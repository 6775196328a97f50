/**
 * A Redis URL without its credentials (`redis://host:port/db`), for logs and
 * error messages.
 */
export function redisAddress(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
  } catch {
    return '(invalid url)';
  }
}
