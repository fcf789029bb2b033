/**
 * @module Dashboard
 * The live position dashboard: `GET /` is one self-contained page (inline CSS, script and SVG,
 * no CDN, works offline), `GET /position.json` the current figures, and `GET /events` a
 * Server-Sent Events stream that pushes new figures the moment a transaction arrives.
 */
import type { AccountPosition, PositionTransaction } from "./position.ts";

/** What the page shows; sent whole on every change (it is small). */
export interface DashboardSnapshot {
  accounts: AccountPosition[];
  recent: PositionTransaction[];
  /** Spend today, as an inline SVG chart. */
  chartToday: string;
  /** Spend this month, as an inline SVG chart. */
  chartMonth: string;
  /** When the figures last changed, ISO 8601. */
  updatedAt: string;
  /** When Up's balances were last compared, ISO 8601, or `null`. */
  reconciledAt: string | null;
}

/** Options for {@linkcode serveDashboard}. */
export interface DashboardOptions {
  /** The figures now. */
  snapshot: () => DashboardSnapshot;
  /** Port; 0 picks a free one. Default 8081. */
  port?: number;
  /** Interface. Default `127.0.0.1`. */
  hostname?: string;
  /** Interval of SSE keep-alive comments, in ms. Default 15 000. */
  keepAliveMs?: number;
  /** Prometheus text for `GET /metrics`; default none (404). */
  metrics?: () => string;
}

/** The content type of Prometheus's text exposition format. */
const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

/** A dashboard listening on a port. */
export interface Dashboard {
  /** For example `http://127.0.0.1:8081/`. */
  url: string;
  /** Open SSE connections. */
  readonly clients: number;
  /** Sends the current figures to every open page, with the transaction that changed them. */
  push(transaction?: PositionTransaction | { id: string; deleted: true }): void;
  /** Ends every SSE stream and stops listening. */
  close(): Promise<void>;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>upbus · position</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #fbf7f2; color: #222; }
  header { background: #ff7a64; color: #fff; padding: 12px 24px; display: flex; justify-content: space-between; align-items: baseline; }
  header h1 { margin: 0; font-size: 20px; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 16px; padding: 16px 24px; }
  section { background: #fff; border-radius: 10px; padding: 12px 16px; box-shadow: 0 1px 3px #0002; }
  h2 { font-size: 15px; margin: 0 0 8px; color: #555; text-transform: uppercase; letter-spacing: .04em; }
  table { width: 100%; border-collapse: collapse; }
  td, th { padding: 4px 6px; text-align: left; border-bottom: 1px solid #eee; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  .balance { font-size: 20px; font-weight: 600; }
  .held { color: #a66; }
  .drift { color: #c00; font-weight: 600; }
  .new { animation: flash 2s ease-out; }
  @keyframes flash { from { background: #fff3a0; } to { background: transparent; } }
  #status { font-size: 13px; }
</style>
</head>
<body>
<header><h1>upbus · position</h1><span id="status">connecting…</span></header>
<main>
  <section><h2>Accounts</h2><table id="accounts"><thead><tr><th>Account</th><th class="num">Balance</th><th class="num">Settled</th><th class="num">Held</th></tr></thead><tbody></tbody></table></section>
  <section><h2>Spend by category</h2><div id="chart-today"></div><div id="chart-month"></div></section>
  <section><h2>Transactions</h2><table id="transactions"><tbody></tbody></table></section>
</main>
<script>
"use strict";
const initial = __SNAPSHOT__;
const seen = new Set();
const money = (cents) => {
  if (cents === null || cents === undefined) return "–";
  const abs = Math.abs(cents);
  return (cents < 0 ? "-" : "") + "$" + Math.floor(abs / 100).toLocaleString("en-AU") + "." + String(abs % 100).padStart(2, "0");
};
const text = (tag, value, className) => {
  const element = document.createElement(tag);
  element.textContent = value;
  if (className) element.className = className;
  return element;
};
function render(snapshot, changedId) {
  const accounts = document.querySelector("#accounts tbody");
  accounts.replaceChildren(...snapshot.accounts.map((account) => {
    const row = document.createElement("tr");
    row.dataset.account = account.accountId;
    const name = text("td", account.name ?? account.accountId.slice(0, 8));
    if (account.driftCents) name.append(text("span", " drift " + money(account.driftCents), "drift"));
    row.append(name, text("td", money(account.balanceCents), "num balance"),
      text("td", money(account.settledCents), "num"), text("td", money(account.heldCents), "num held"));
    return row;
  }));
  document.getElementById("chart-today").innerHTML = snapshot.chartToday;
  document.getElementById("chart-month").innerHTML = snapshot.chartMonth;
  const transactions = document.querySelector("#transactions tbody");
  transactions.replaceChildren(...snapshot.recent.map((transaction) => {
    const row = document.createElement("tr");
    row.dataset.transaction = transaction.id;
    if (transaction.id === changedId || (seen.size > 0 && !seen.has(transaction.id))) row.className = "new";
    row.append(text("td", new Date(transaction.createdAt).toLocaleString("en-AU", { dateStyle: "short", timeStyle: "short" })),
      text("td", transaction.description), text("td", transaction.category ?? ""),
      text("td", transaction.status === "HELD" ? "held" : "", "held"),
      text("td", money(transaction.amountCents), "num"));
    return row;
  }));
  for (const transaction of snapshot.recent) seen.add(transaction.id);
  document.getElementById("status").textContent = "updated " + new Date(snapshot.updatedAt).toLocaleTimeString("en-AU");
}
render(initial);
const events = new EventSource("events");
events.addEventListener("position", (event) => {
  const message = JSON.parse(event.data);
  render(message.snapshot, message.transaction && message.transaction.id);
});
events.onerror = () => { document.getElementById("status").textContent = "reconnecting…"; };
</script>
</body>
</html>
`;

/**
 * The dashboard page with the figures embedded, so it renders before the stream opens.
 *
 * @param snapshot The figures.
 * @returns The HTML.
 */
export function dashboardPage(snapshot: DashboardSnapshot): string {
  // `<` escaped so that no value can close the script element.
  return PAGE.replace("__SNAPSHOT__", JSON.stringify(snapshot).replaceAll("<", "\\u003c"));
}

/**
 * Serves the dashboard.
 *
 * @param options Where the figures come from, port and interface.
 * @returns The dashboard; `close()` it on shutdown.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 *
 * @example
 * ```ts ignore
 * import { serveDashboard } from "./dashboard.ts";
 * const dashboard = serveDashboard({ snapshot: () => mySnapshot(), port: 0 });
 * await dashboard.close();
 * ```
 */
export function serveDashboard(options: DashboardOptions): Dashboard {
  const encoder = new TextEncoder();
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, chunk: string) => {
    try {
      controller.enqueue(encoder.encode(chunk));
    } catch {
      streams.delete(controller);
    }
  };
  const event = (data: unknown) => `event: position\ndata: ${JSON.stringify(data)}\n\n`;
  const keepAlive = setInterval(() => {
    for (const controller of streams) send(controller, ": keep-alive\n\n");
  }, options.keepAliveMs ?? 15_000);

  const server = Deno.serve(
    { port: options.port ?? 8081, hostname: options.hostname ?? "127.0.0.1", onListen: () => {} },
    function dashboardRoutes(request) {
      const { pathname } = new URL(request.url);
      if (request.method !== "GET") {
        return new Response("Method Not Allowed\n", { status: 405, headers: { Allow: "GET" } });
      }
      if (pathname === "/") {
        return new Response(dashboardPage(options.snapshot()), {
          headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
        });
      }
      if (pathname === "/position.json") return Response.json(options.snapshot());
      if (pathname === "/metrics" && options.metrics) {
        return new Response(options.metrics(), { headers: { "content-type": PROMETHEUS_TEXT } });
      }
      if (pathname === "/events") {
        let mine: ReadableStreamDefaultController<Uint8Array>;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            mine = controller;
            streams.add(controller);
            send(controller, "retry: 1000\n" + event({ snapshot: options.snapshot() }));
          },
          cancel() {
            streams.delete(mine);
          },
        });
        return new Response(body, {
          headers: {
            "content-type": "text/event-stream",
            "cache-control": "no-store",
            "x-accel-buffering": "no",
          },
        });
      }
      return new Response("Not Found\n", { status: 404 });
    },
  );
  const { hostname, port } = server.addr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}/`,
    get clients() {
      return streams.size;
    },
    push(transaction) {
      if (streams.size === 0) return;
      const chunk = event({ snapshot: options.snapshot(), transaction });
      for (const controller of streams) send(controller, chunk);
    },
    async close() {
      clearInterval(keepAlive);
      for (const controller of streams) {
        try {
          controller.close();
        } catch { /* already closed */ }
      }
      streams.clear();
      await server.shutdown();
    },
  };
}
