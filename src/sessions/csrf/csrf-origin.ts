/**
 * The Origin and Referer checks of Django's `CsrfViewMiddleware` (`_origin_verified`,
 * `_check_referer`) and `django.utils.http.is_same_domain`.
 */

/** An origin or URL split as Python's `urlparse` splits its scheme and netloc; null when it has neither. */
function schemeAndNetloc(url: string): { scheme: string; netloc: string } | null {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/.exec(url);
  return match ? { scheme: match[1].toLowerCase(), netloc: match[2] } : null;
}

/** Django's `is_same_domain`: `pattern` is the host, or `.example.com` matches it and every subdomain. */
export function isSameDomain(host: string, pattern: string): boolean {
  if (!pattern) return false;
  const lower = pattern.toLowerCase();
  return (lower.startsWith('.') && (host.endsWith(lower) || host === lower.slice(1))) || lower === host;
}

/** `CSRF_TRUSTED_ORIGINS`, split as Django's middleware splits it (its cached properties). */
export interface TrustedOrigins {
  /** `allowed_origins_exact`: origins without a wildcard, compared as sent. */
  exact: ReadonlySet<string>;
  /** `allowed_origin_subdomains`: by scheme, the netlocs whose subdomains are trusted (`.example.com`). */
  subdomains: ReadonlyMap<string, readonly string[]>;
  /** `csrf_trusted_origins_hosts`: every trusted netloc (wildcards as `.example.com`), for the Referer check. */
  hosts: readonly string[];
}

/** Checked at start-up like Django's system check 4_0.E001: every origin names its scheme. */
export function parseTrustedOrigins(origins: readonly string[], fail: (message: string) => never): TrustedOrigins {
  const exact = new Set<string>();
  const subdomains = new Map<string, string[]>();
  const hosts: string[] = [];
  for (const origin of origins) {
    const parsed = typeof origin === 'string' ? schemeAndNetloc(origin) : null;
    if (!parsed || parsed.netloc === '')
      fail(`must hold origins with a scheme, such as "https://example.com" or "https://*.example.com", got ${JSON.stringify(origin)}`);
    const netloc = parsed.netloc.replace(/^\*+/, '');
    hosts.push(netloc);
    if (!origin.includes('*')) exact.add(origin);
    else subdomains.set(parsed.scheme, [...(subdomains.get(parsed.scheme) ?? []), netloc]);
  }
  return { exact, subdomains, hosts };
}

/** Django's `_origin_verified`: the request's own origin, a trusted one, or a subdomain of a trusted wildcard. */
export function originVerified(origin: string, ownOrigin: string, trusted: TrustedOrigins): boolean {
  if (origin === ownOrigin || trusted.exact.has(origin)) return true;
  const parsed = schemeAndNetloc(origin);
  if (!parsed) return false;
  return (trusted.subdomains.get(parsed.scheme) ?? []).some((host) => isSameDomain(parsed.netloc, host));
}

/**
 * Django's `_check_referer`, for HTTPS requests without an Origin header: the reason to reject, or
 * null. `goodReferer` is the cookie domain (with a port other than 443 and 80), else the request's host.
 */
export function refererRejection(referer: string | undefined, trusted: TrustedOrigins, goodReferer: string): string | null {
  if (referer === undefined) return 'Referer checking failed - no Referer.';
  const parsed = schemeAndNetloc(referer);
  if (!parsed || parsed.netloc === '') return 'Referer checking failed - Referer is malformed.';
  if (parsed.scheme !== 'https') return 'Referer checking failed - Referer is insecure while host is secure.';
  if (trusted.hosts.some((host) => isSameDomain(parsed.netloc, host))) return null;
  if (isSameDomain(parsed.netloc, goodReferer)) return null;
  return `Referer checking failed - ${referer} does not match any trusted origins.`;
}
