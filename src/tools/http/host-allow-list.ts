/**
 * Which hosts `http.request` may reach. Entries: `host` (any port), `host:port`, or
 * `*.domain` (any sub-domain of it, not the domain itself). Host names compare case-insensitively;
 * IPv6 literals are written in brackets (`[::1]:8080`). An empty list allows nothing, so an
 * agent cannot reach internal addresses unless the operator lists them.
 */
export class HostAllowList {
  readonly #entries: { host: string; port: string | undefined; wildcard: boolean }[];

  constructor(entries: readonly string[]) {
    this.#entries = entries.map((raw) => {
      const entry = raw.trim().toLowerCase();
      const wildcard = entry.startsWith('*.');
      const body = wildcard ? entry.slice(1) : entry;
      const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(body);
      if (!match || !match[1]) throw new Error(`bad allowed host '${raw}' (expected host, host:port or *.domain)`);
      return { host: match[1], port: match[2], wildcard };
    });
  }

  /** Whether `url` (http or https) points at an allowed host and port. */
  allows(url: URL): boolean {
    const host = url.hostname.toLowerCase();
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    return this.#entries.some((e) => (e.wildcard ? host.endsWith(e.host) && host.length > e.host.length : host === e.host) && (e.port === undefined || e.port === port));
  }
}
