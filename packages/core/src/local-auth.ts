import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Compare a presented secret (a bearer token) with the expected one in time that depends on neither
 * their contents nor their lengths: both are hashed to 32 bytes first, so a wrong length does not
 * return early.
 *
 * @example
 * if (!sameSecret(bearer, adminToken)) return unauthorized();
 */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b) && expected.length > 0;
}

/** Host names a loopback-only server answers to (DNS-rebinding protection). */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Whether a `Host` header names this machine's loopback interface (any port). */
export function isLoopbackHost(host: string | undefined): boolean {
  return host !== undefined && LOOPBACK_HOSTS.has(host.replace(/:\d+$/, ""));
}

/**
 * Whether an `Origin` header may reach a loopback-only server: absent (not a browser, or a same-origin
 * GET) or an `http://` loopback origin. A web page on any other origin is refused even if it learned
 * the token, so that a browser cannot be turned against the local server.
 */
export function isLoopbackOrigin(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return (
      url.protocol === "http:" &&
      LOOPBACK_HOSTS.has(url.hostname.startsWith("[") ? url.hostname : url.hostname === "::1" ? "[::1]" : url.hostname)
    );
  } catch {
    return false;
  }
}
