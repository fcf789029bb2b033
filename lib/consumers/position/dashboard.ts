/**
 * @module Dashboard
 * The live position dashboard: `GET /` is one self-contained page (inline CSS, script and SVG,
 * no CDN, works offline) that fits a phone as well as a wide screen, `GET /position.json` the
 * current figures, and `GET /events` a Server-Sent Events stream that pushes new figures the
 * moment a transaction arrives. It shows balances, so off loopback it refuses to start without a
 * password, and with one it asks every request for it (HTTP basic auth, or a bearer token).
 */
import { carriesPassword, passwordRequired, requirePasswordOffLoopback } from "./dashboard_auth.ts";
import type { DashboardSnapshot } from "./dashboard_snapshot.ts";
import type { PositionTransaction } from "./position.ts";

export type { DashboardSnapshot } from "./dashboard_snapshot.ts";

/** Options for {@linkcode serveDashboard}. */
export interface DashboardOptions {
  /** The figures now. */
  snapshot: () => DashboardSnapshot;
  /** Port; 0 picks a free one. Default 8081. */
  port?: number;
  /** Interface. Default `127.0.0.1`. */
  hostname?: string;
  /**
   * The password every request must carry, as HTTP basic auth (any user name) or as
   * `Authorization: Bearer <password>`; `DASHBOARD_PASSWORD`. Required when `hostname` is not
   * loopback. Default none.
   */
  password?: string;
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
<meta name="color-scheme" content="light">
<title>upbus · your money</title>
<style>
  :root {
    --bg: #f4f1ec; --card: #fff; --ink: #1f1d2b; --muted: #6d6a78; --line: #ece7e0;
    --accent: #ff7a64; --accent-deep: #e4553d; --accent-soft: #ffe3dc; --income: #12805c;
    --held: #a45a12; --held-soft: #fff1dd; --warn-bg: #fff4e5; --warn-line: #f0b35b;
  }
  * { box-sizing: border-box; }
  html { -webkit-text-size-adjust: 100%; }
  body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
  .amount, .num { font-variant-numeric: tabular-nums; white-space: nowrap; text-align: right; }
  header.top { background: var(--ink); color: #fff; }
  .top-inner { max-width: 1440px; margin: 0 auto; padding: 14px 20px; display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; justify-content: space-between; }
  .brand { margin: 0; font-size: 18px; font-weight: 650; letter-spacing: .01em; }
  .brand b { color: var(--accent); font-weight: 750; }
  .status { display: inline-flex; align-items: center; gap: 8px; font-size: 13px; color: #d9d6e2; }
  .dot { width: 9px; height: 9px; border-radius: 50%; background: #8a8797; flex: none; }
  .status.live .dot { background: #3ddc97; box-shadow: 0 0 0 3px #3ddc9733; }
  .status.down .dot { background: #f5a524; }
  main { max-width: 1440px; margin: 0 auto; padding: 16px 20px 32px; display: grid; gap: 16px; }
  .problem { margin: 0; padding: 12px 16px; border: 1px solid var(--warn-line); background: var(--warn-bg); border-radius: 12px; color: #5a3a05; }
  .problem strong { display: block; margin-bottom: 2px; }
  .card { background: var(--card); border-radius: 14px; padding: 16px 18px; box-shadow: 0 1px 2px #1f1d2b14, 0 4px 16px #1f1d2b0a; min-width: 0; }
  h2 { margin: 0 0 10px; font-size: 13px; font-weight: 650; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
  .accounts, .account-list { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(min(100%, 300px), 1fr)); }
  .account-list { display: contents; }
  .account h2 { display: flex; justify-content: space-between; gap: 8px; }
  .account .balance { margin: 0; font-size: 32px; font-weight: 700; letter-spacing: -.01em; text-align: left; line-height: 1.15; }
  .account .unknown { font-size: 18px; font-weight: 600; color: var(--muted); white-space: normal; }
  .split { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 2px 12px; margin: 10px 0 12px; font-size: 14px; }
  .split dt { color: var(--muted); }
  .split dd { margin: 0; text-align: right; white-space: nowrap; }
  .split .held { color: var(--held); }
  .pending { color: var(--muted); font-size: 12px; }
  .drift { color: #b3261e; font-size: 12px; font-weight: 600; text-transform: none; letter-spacing: 0; }
  .chart { display: block; width: 100%; overflow: visible; }
  .balance-chart { height: 64px; }
  .balance-chart .area { fill: var(--accent-soft); }
  .balance-chart .line { stroke: var(--accent-deep); stroke-width: 2; stroke-linejoin: round; }
  #spend-days { display: flex; flex-direction: column; }
  .plot { flex: 1 1 auto; display: grid; grid-template-columns: auto minmax(0, 1fr); grid-template-rows: minmax(150px, 1fr) auto; gap: 4px 6px; }
  .y-axis { display: flex; flex-direction: column; justify-content: space-between; font-size: 12px; line-height: 1; color: var(--muted); text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  #spend-chart { min-height: 150px; position: relative; }
  #spend-ticks { grid-column: 2; margin-top: 0; flex-wrap: nowrap; }
  .spend-chart { position: absolute; inset: 0; height: 100%; }
  .spend-chart .bar { fill: var(--accent); }
  .spend-chart .bar.today { fill: var(--accent-deep); }
  .spend-chart .bar:hover { fill: var(--ink); }
  .spend-chart .baseline { stroke: var(--line); stroke-width: 1; }
  .axis { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 12px; margin-top: 4px; font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
  .axis span { white-space: nowrap; }
  .account .axis { flex-wrap: nowrap; gap: 0 8px; }
  .figures { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 0 0 10px; font-size: 14px; color: var(--muted); }
  .figures strong { color: var(--ink); font-size: 20px; font-weight: 700; font-variant-numeric: tabular-nums; }
  .pair { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(min(100%, 440px), 1fr)); }
  .cats { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
  .cat { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 2px 12px; align-items: baseline; }
  .cat .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .cat .track { grid-column: 1 / -1; height: 8px; border-radius: 4px; background: var(--bg); overflow: hidden; }
  .cat .fill { display: block; height: 100%; border-radius: 4px; background: var(--accent); }
  .empty { color: var(--muted); margin: 4px 0; }
  .note { margin: 0; font-size: 14px; color: #45424f; }
  .note p { margin: 0 0 6px; }
  .note p:last-child { margin: 0; }
  .tag { display: inline-block; padding: 0 7px; border-radius: 999px; font-size: 12px; line-height: 20px; font-weight: 600; white-space: nowrap; }
  .tag.held { background: var(--held-soft); color: var(--held); }
  .txs { list-style: none; margin: 0; padding: 0; }
  .tx { display: grid; grid-template-columns: minmax(0, 1fr) auto auto; grid-template-areas: "desc status amount" "meta meta date"; gap: 2px 8px; padding: 10px 0; border-top: 1px solid var(--line); align-items: baseline; }
  .tx:first-child, .tx.head + .tx { border-top: 0; }
  .tx .desc { grid-area: desc; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .tx .amount { grid-area: amount; font-weight: 600; }
  .tx .h-amount { grid-area: amount; text-align: right; }
  .tx .amount.in { color: var(--income); }
  .tx .status-cell { grid-area: status; text-align: right; }
  .tx .d { grid-area: date; text-align: right; white-space: nowrap; font-size: 13px; color: var(--muted); }
  .tx .meta { grid-area: meta; display: flex; gap: 0 6px; font-size: 13px; color: var(--muted); min-width: 0; overflow: hidden; }
  .tx .meta > span { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; flex: 0 1 auto; }
  .tx .meta > .a { flex-shrink: 0; max-width: 50%; }
  .tx .meta > span + span::before { content: "·"; margin-right: 6px; }
  .tx.head { display: none; }
  .new { animation: flash 2.5s ease-out; }
  @keyframes flash { from { background: #fff3b0; } to { background: transparent; } }
  footer { max-width: 1440px; margin: 0 auto; padding: 0 20px 24px; font-size: 12px; color: var(--muted); }
  @media (min-width: 900px) {
    .tx { grid-template-columns: minmax(0, 2fr) minmax(0, 1.3fr) minmax(0, 1fr) 11rem 5.5rem 8.5rem; grid-template-areas: "desc cat acct date status amount"; padding: 9px 0; }
    .tx .meta { display: contents; font-size: 14px; }
    .tx .meta > span::before { display: none; }
    .tx { gap: 2px 12px; }
    .tx .meta .c { grid-area: cat; } .tx .meta .a { grid-area: acct; }
    .tx .d { text-align: left; font-size: 14px; }
    .tx .meta > span { color: var(--muted); justify-self: stretch; text-align: left; }
    .tx.head { display: grid; padding-top: 0; }
    .tx.head + .tx { border-top: 1px solid var(--line); }
    .tx .meta > .a { max-width: none; }
    .tx.head, .tx.head .meta > span, .tx.head .desc, .tx.head .d { font-size: 12px; font-weight: 650; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
  }
  @media (max-width: 420px) {
    .tx .wd { display: none; }
    .account .axis { font-size: 11px; letter-spacing: -.01em; }
    .top-inner, main, footer { padding-left: 12px; padding-right: 12px; }
    main { gap: 12px; }
    .card { padding: 14px; }
    .account .balance { font-size: 28px; }
  }
</style>
</head>
<body>
<header class="top"><div class="top-inner"><h1 class="brand"><b>upbus</b> · your money</h1><span id="status" class="status"><span class="dot"></span><span id="status-text">connecting…</span></span></div></header>
<main>
  <p id="problem" class="problem" role="alert" hidden></p>
  <section class="accounts" aria-label="Accounts"><div id="accounts" class="account-list"></div>
  <section class="card note" id="explain" aria-label="Held and settled">
    <h2>Held and settled</h2>
    <p><b>Held</b> is a card payment the shop has had approved but has not collected yet, a pending authorisation. Up already takes it off your balance so you cannot spend the money twice. Most held payments settle within a few days, sometimes for a slightly different amount (a tip, a currency conversion); one that is never collected, such as a hotel deposit, drops off.</p>
    <p><b>Settled</b> is money that has actually moved. Your balance is the settled amount plus the held payments.</p>
  </section></section>
  <div class="pair">
    <section class="card" id="spend-days"><h2>Spend per day</h2><p class="figures" id="spend-figures"></p><div class="plot"><div class="y-axis" aria-hidden="true"><span id="spend-max"></span><span>$0</span></div><div id="spend-chart"></div><div class="axis" id="spend-ticks"></div></div></section>
    <section class="card" id="spend-categories"><h2>By category, last 30 days</h2><ul class="cats" id="categories"></ul></section>
  </div>
  <section class="card" id="transactions-card"><h2>Latest transactions</h2>
    <ol class="txs" id="transactions"></ol>
  </section>
</main>
<footer id="footer"></footer>
<script>
"use strict";
const initial = __SNAPSHOT__;
const seen = new Set();
// The page's own copy of formatDollars (lib/runtime/money.ts): this script runs in the browser,
// which loads no upbus module.
const money = (cents) => {
  const abs = Math.abs(cents);
  return (cents < 0 ? "-" : "") + "$" + Math.floor(abs / 100).toLocaleString("en-AU") + "." + String(abs % 100).padStart(2, "0");
};
const el = (tag, className, text) => {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
};
const ZONE = initial.timeZone;
const weekday = new Intl.DateTimeFormat("en-AU", { timeZone: ZONE, weekday: "short" });
const when = new Intl.DateTimeFormat("en-AU", { timeZone: ZONE, day: "numeric", month: "short", hour: "numeric", minute: "2-digit" });
const clock = new Intl.DateTimeFormat("en-AU", { timeZone: ZONE, hour: "numeric", minute: "2-digit", second: "2-digit" });
const shortDay = (day) => new Date(day + "T00:00:00Z").toLocaleDateString("en-AU", { day: "numeric", month: "short", timeZone: "UTC" });
function accountCard(account) {
  const card = el("article", "card account");
  card.dataset.account = account.accountId;
  const title = el("h2", "", account.label);
  title.title = account.label;
  if (account.driftCents) title.append(el("span", "drift", "differs from Up by " + money(account.driftCents)));
  card.append(title);
  if (account.balanceCents === null) {
    card.append(el("p", "balance unknown", "Balance unknown until Up answers"));
  } else {
    card.append(el("p", "balance amount", money(account.balanceCents)));
  }
  const split = el("dl", "split");
  const settled = account.balanceCents === null ? account.settledCents : account.balanceCents - account.heldCents;
  split.append(el("dt", "", account.balanceCents === null ? "Settled (seen)" : "Settled"), el("dd", "amount", money(settled)));
  const held = el("dd", account.heldCents === 0 ? "" : "held");
  held.append(el("span", "amount", money(account.heldCents)));
  if (account.heldCount > 0) held.append(el("span", "pending", " · " + account.heldCount + " pending"));
  split.append(el("dt", "", "Held"), held);
  card.append(split);
  if (account.history && account.history.length > 0) {
    const chart = el("div", "spark");
    chart.innerHTML = account.chart;
    const values = account.history.map((point) => point.cents);
    const axis = el("div", "axis");
    axis.append(el("span", "", shortDay(account.history[0].day) + ": " + money(account.history[0].cents)),
      el("span", "", "low " + money(Math.min(...values))), el("span", "", "high " + money(Math.max(...values))));
    card.append(chart, axis);
  }
  return card;
}
function transactionRow(transaction, changedId) {
  const row = el("li", "tx");
  row.dataset.transaction = transaction.id;
  if (transaction.id === changedId || (seen.size > 0 && !seen.has(transaction.id))) row.classList.add("new");
  const amount = el("span", "amount" + (transaction.amountCents > 0 ? " in" : ""), money(transaction.amountCents));
  const meta = el("div", "meta");
  const category = el("span", "c", transaction.categoryName ?? (transaction.transfer ? "Transfer" : transaction.amountCents > 0 ? "Income" : "Uncategorised"));
  const account = el("span", "a", transaction.accountName);
  category.title = category.textContent;
  account.title = account.textContent;
  meta.append(category, account);
  const date = el("span", "d");
  date.append(el("span", "wd", weekday.format(transaction.createdAt) + ", "), when.format(transaction.createdAt));
  const status = el("span", "status-cell");
  if (transaction.status === "HELD") status.append(el("span", "tag held", "Held"));
  const description = el("span", "desc", transaction.description);
  // A name cut with an ellipsis can still be read whole, on hover or by a screen reader.
  description.title = transaction.description;
  row.append(description, meta, date, status, amount);
  return row;
}
function render(snapshot, changedId) {
  const problem = document.getElementById("problem");
  problem.hidden = snapshot.problem === null;
  problem.replaceChildren();
  if (snapshot.problem !== null) problem.append(el("strong", "", "Up's figures are not available"), document.createTextNode(snapshot.problem));
  document.getElementById("accounts").replaceChildren(...snapshot.accounts.map(accountCard));
  const total = snapshot.spendDays.reduce((sum, day) => sum + day.cents, 0);
  const today = snapshot.spendDays.at(-1)?.cents ?? 0;
  const figures = document.getElementById("spend-figures");
  figures.replaceChildren();
  const figure = (label, cents) => { const span = el("span", "", label + " "); span.append(el("strong", "amount", money(cents))); return span; };
  figures.append(figure("Today", today), figure("Last " + snapshot.spendDays.length + " days", total));
  document.getElementById("spend-chart").innerHTML = snapshot.spendChart;
  // The axes: the bars' top is the highest day, their foot $0; a date under every week.
  const peak = snapshot.spendDays.reduce((best, day) => day.cents > best.cents ? day : best, { cents: 0 });
  const top = document.getElementById("spend-max");
  top.textContent = money(peak.cents);
  top.title = peak.cents > 0 ? "highest: " + shortDay(peak.day) : "";
  const ticks = document.getElementById("spend-ticks");
  const days = snapshot.spendDays;
  const marks = days.length < 2 ? [] : [0, 1, 2, 3, 4].map((i) => Math.round(i * (days.length - 1) / 4));
  ticks.replaceChildren(...marks.map((index) => el("span", "", index === days.length - 1 ? "today" : shortDay(days[index].day))));
  const categories = document.getElementById("categories");
  const max = Math.max(1, ...snapshot.spendCategories.map((entry) => entry.cents));
  categories.replaceChildren(...snapshot.spendCategories.map((entry) => {
    const item = el("li", "cat");
    item.dataset.category = entry.category;
    const track = el("span", "track");
    const fill = el("span", "fill");
    fill.style.width = Math.max(1, Math.round(100 * entry.cents / max)) + "%";
    track.append(fill);
    const name = el("span", "name", entry.name);
    name.title = entry.name;
    item.append(name, el("span", "amount", money(entry.cents)), track);
    return item;
  }));
  if (snapshot.spendCategories.length === 0) categories.append(el("li", "empty", "No purchases in these days."));
  const list = document.getElementById("transactions");
  const head = el("li", "tx head");
  head.setAttribute("aria-hidden", "true");
  const headMeta = el("div", "meta");
  headMeta.append(el("span", "c", "Category"), el("span", "a", "Account"));
  head.append(el("span", "desc", "Description"), headMeta, el("span", "d", "Date"), el("span", "status-cell", "Status"), el("span", "h-amount", "Amount"));
  const rows = snapshot.recent.map((transaction) => transactionRow(transaction, changedId));
  list.replaceChildren(...(rows.length ? [head, ...rows] : [el("li", "empty", "No transactions yet: they appear here the moment Up sends them.")]));
  for (const transaction of snapshot.recent) seen.add(transaction.id);
  document.getElementById("status-text").textContent = "Live · updated " + clock.format(new Date(snapshot.updatedAt));
  document.getElementById("footer").textContent = snapshot.reconciledAt === null
    ? "Balances not yet checked with Up. Times in " + ZONE + "."
    : "Balances checked with Up at " + clock.format(new Date(snapshot.reconciledAt)) + ". Times in " + ZONE + ".";
  if (snapshot.completeAt !== null) {
    document.getElementById("footer").textContent += " Every event Up sent confirmed received at " + clock.format(new Date(snapshot.completeAt)) + ".";
  }
}
render(initial);
const status = document.getElementById("status");
const events = new EventSource("events");
events.onopen = () => { status.className = "status live"; };
events.addEventListener("position", (event) => {
  const message = JSON.parse(event.data);
  status.className = "status live";
  render(message.snapshot, message.transaction && message.transaction.id);
});
events.onerror = () => {
  status.className = "status down";
  document.getElementById("status-text").textContent = "Reconnecting…";
};
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
 * @throws {TypeError} If `hostname` is not loopback and no password is set.
 *
 * @example
 * ```ts ignore
 * import { serveDashboard } from "./dashboard.ts";
 * const dashboard = serveDashboard({ snapshot: () => mySnapshot(), port: 0 });
 * await dashboard.close();
 * ```
 */
export function serveDashboard(options: DashboardOptions): Dashboard {
  const hostname = options.hostname ?? "127.0.0.1";
  const password = options.password || undefined;
  requirePasswordOffLoopback(hostname, password);
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
    { port: options.port ?? 8081, hostname, onListen: () => {} },
    async function dashboardRoutes(request) {
      if (password !== undefined && !(await carriesPassword(request, password))) {
        return passwordRequired();
      }
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
  const { port } = server.addr;
  const bound = server.addr.hostname;
  const host = bound.includes(":") ? `[${bound}]` : bound;
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
