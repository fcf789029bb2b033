/**
 * @module Actual bridge (Node.js)
 * Runs `@actual-app/api` for `consume actual` in a Node.js child process: the API opens budgets
 * with better-sqlite3, a legacy (nan) native addon that Deno cannot load ("Only Node-API (N-API)
 * addons are supported"). Requests arrive as JSON lines on stdin, `{id, op, args}`; answers leave
 * as JSON lines on stdout, `{id, result}` or `{id, error}`. Everything the API prints goes to
 * stderr. The API is loaded from `ACTUAL_API_DIR`, where `npm ci` installed it (tools/actual).
 * It runs as `node --input-type=module --eval`, so the compiled binary can carry it. Secrets arrive on stdin, never in argv or the environment.
 */
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import process from "node:process";

const out = process.stdout.write.bind(process.stdout);
for (const level of ["log", "info", "warn", "debug", "error"]) {
  console[level] = (...args) => process.stderr.write(`${args.map(String).join(" ")}\n`);
}
const apiDir = process.env.ACTUAL_API_DIR;
const api = createRequire(`${apiDir.replace(/\/?$/, "/")}package.json`)("@actual-app/api");
let lib;

async function findByImportedId(importedId) {
  const { data } = await api.aqlQuery(
    lib.q("transactions").filter({ imported_id: importedId }).select(["id", "account", "cleared"]),
  );
  return data;
}

const ops = {
  async open({ serverURL, password, syncId, dataDir, budgetPassword }) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    lib = await api.init({ dataDir, serverURL, password });
    await api.downloadBudget(syncId, budgetPassword ? { password: budgetPassword } : undefined);
    return { ok: true };
  },
  /** Creates a budget on the server (tests, or a first run with no budget): its sync id. */
  async createBudget({ serverURL, password, dataDir, name }) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    lib = await api.init({ dataDir, serverURL, password });
    await lib.send("create-budget", { budgetName: name });
    const budgets = await api.getBudgets();
    const budget = budgets.find((candidate) => candidate.name === name && candidate.groupId);
    if (!budget) throw new Error(`Cannot create budget: "${name}" was not uploaded to the server`);
    return { syncId: budget.groupId };
  },
  async ensureAccount({ name, offbudget }) {
    const existing = (await api.getAccounts()).find((account) => account.name === name);
    if (existing) return { id: existing.id, created: false };
    return {
      id: await api.createAccount({ name, offbudget: Boolean(offbudget) }, 0),
      created: true,
    };
  },
  async categories() {
    return (await api.getCategories()).filter((category) => !category.hidden)
      .map(({ id, name }) => ({ id, name }));
  },
  async createCategory({ name }) {
    const groups = await api.getCategoryGroups();
    const group = groups.find((candidate) => !candidate.is_income) ?? groups[0];
    return { id: await api.createCategory({ name, group_id: group.id }) };
  },
  /** Adds a transaction once (by imported_id), or updates the one already there. */
  async upsert({ accountId, transaction, transferTo }) {
    const [existing] = await findByImportedId(transaction.imported_id);
    if (existing) {
      const fields = {
        cleared: transaction.cleared,
        amount: transaction.amount,
        date: transaction.date,
      };
      if (transaction.category) fields.category = transaction.category;
      await api.updateTransaction(existing.id, fields);
      return { action: "updated", id: existing.id };
    }
    const row = { ...transaction };
    if (transferTo) {
      const payee = (await api.getPayees()).find((candidate) =>
        candidate.transfer_acct === transferTo
      );
      if (!payee) {
        throw new Error(`Cannot record transfer: no transfer payee for account ${transferTo}`);
      }
      delete row.payee_name;
      delete row.category; // Actual leaves on-budget transfers uncategorised.
      row.payee = payee.id;
    }
    const [id] = await api.addTransactions(accountId, [row], { runTransfers: true });
    return { action: "added", id };
  },
  async remove({ importedId }) {
    const rows = await findByImportedId(importedId);
    for (const row of rows) await api.deleteTransaction(row.id);
    return { removed: rows.length };
  },
  async transactions({ accountId }) {
    return await api.getTransactions(accountId, "1970-01-01", "2999-12-31");
  },
  async accounts() {
    return await api.getAccounts();
  },
  async payees() {
    return await api.getPayees();
  },
  async sync() {
    await api.sync();
    return { ok: true };
  },
  async close() {
    await api.shutdown();
    return { ok: true };
  },
};

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let request;
    try {
      request = JSON.parse(line);
      const op = ops[request.op];
      if (!op) throw new Error(`unknown operation "${request.op}"`);
      const result = await op(request.args ?? {});
      out(`${JSON.stringify({ id: request.id, result: result ?? null })}\n`);
    } catch (error) {
      out(
        `${JSON.stringify({ id: request?.id ?? null, error: String(error?.message ?? error) })}\n`,
      );
    }
  });
});
lines.on("close", () => {
  queue.then(() => api.shutdown().catch(() => {})).finally(() => process.exit(0));
});
