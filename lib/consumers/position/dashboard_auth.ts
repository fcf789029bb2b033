/**
 * @module Dashboard auth
 * The dashboard shows balances: off loopback it must not start without a password
 * (`DASHBOARD_PASSWORD`), and with one every request must carry it, as HTTP basic auth (the
 * browser asks; any user name) or as `Authorization: Bearer <password>`. Compared in constant
 * time, on SHA-256 digests.
 */

/**
 * Whether an interface is loopback only: `127.0.0.0/8`, `::1` or `localhost`.
 *
 * @param hostname The interface the dashboard listens on.
 * @returns `true` for loopback.
 *
 * @example
 * ```ts
 * import { isLoopback } from "./dashboard_auth.ts";
 * if (!isLoopback("127.0.0.1") || isLoopback("0.0.0.0")) throw new Error("unexpected");
 * ```
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.trim().toLowerCase().replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Refuses an interface other than loopback when no password is set.
 *
 * @param hostname The interface.
 * @param password The password, if any.
 * @throws {TypeError} Naming `DASHBOARD_PASSWORD` and `DASHBOARD_HOST`.
 *
 * @example
 * ```ts
 * import { requirePasswordOffLoopback } from "./dashboard_auth.ts";
 * requirePasswordOffLoopback("127.0.0.1", undefined);
 * requirePasswordOffLoopback("0.0.0.0", "a long password");
 * ```
 */
export function requirePasswordOffLoopback(hostname: string, password: string | undefined): void {
  if (isLoopback(hostname) || (password !== undefined && password !== "")) return;
  throw new TypeError(
    `Cannot serve the dashboard on ${hostname}: it shows your balances, so anywhere but loopback it needs a password; set DASHBOARD_PASSWORD, or DASHBOARD_HOST=127.0.0.1`,
  );
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** The password a request offers: a basic-auth password or a bearer token; `null` if none. */
function offered(request: Request): string | null {
  const header = request.headers.get("authorization") ?? "";
  const [, scheme = "", value = ""] = header.trim().match(/^(\S+)\s+(.*)$/) ?? [];
  if (/^bearer$/i.test(scheme)) return value;
  if (/^basic$/i.test(scheme)) {
    try {
      const decoded = new TextDecoder().decode(
        Uint8Array.from(atob(value), (c) => c.charCodeAt(0)),
      );
      const colon = decoded.indexOf(":");
      return colon < 0 ? null : decoded.slice(colon + 1);
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Checks a request's password.
 *
 * @param request The request.
 * @param password The expected password.
 * @returns Whether it carries that password.
 *
 * @example
 * ```ts
 * import { carriesPassword } from "./dashboard_auth.ts";
 * const request = new Request("http://x/", { headers: { authorization: `Basic ${btoa("me:pw")}` } });
 * if (!(await carriesPassword(request, "pw"))) throw new Error("unexpected");
 * ```
 */
export async function carriesPassword(request: Request, password: string): Promise<boolean> {
  const given = offered(request);
  if (given === null) return false;
  const [a, b] = await Promise.all([digest(given), digest(password)]);
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}

/** The answer to a request without the password: asks the browser for it. */
export function passwordRequired(): Response {
  return new Response("The dashboard needs the password set in DASHBOARD_PASSWORD.\n", {
    status: 401,
    headers: {
      "www-authenticate": 'Basic realm="upbus dashboard", charset="UTF-8"',
      "content-type": "text/plain; charset=utf-8",
    },
  });
}
