import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  fileVersion,
  type Migration,
  NewerFileError,
  openVersioned,
  type VersionedSchema,
} from "../../lib/runtime/versioned_db.ts";
import {
  NewerJsonFileError,
  readVersionedJson,
  writeVersionedJson,
} from "../../lib/runtime/versioned_json.ts";

const v1: Migration = {
  version: 1,
  description: "items",
  up: (db) => db.exec("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)"),
};
const v2: Migration = {
  version: 2,
  description: "a done flag",
  up: (db) => db.exec("ALTER TABLE items ADD COLUMN done INTEGER NOT NULL DEFAULT 0"),
};
const v3: Migration = {
  version: 3,
  description: "names upper-cased",
  rewritesData: true,
  up: (db) => db.exec("UPDATE items SET name = upper(name)"),
};
const schema = (...migrations: Migration[]): VersionedSchema => ({ name: "test file", migrations });

Deno.test("openVersioned: a new file runs every step; a file from before versions keeps its rows", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const fresh = openVersioned(`${dir}/new.db`, schema(v1, v2));
    assert.equal(fileVersion(`${dir}/new.db`), 2);
    fresh.exec("INSERT INTO items (name, done) VALUES ('a', 1)");
    fresh.close();
    assert.equal(Deno.statSync(`${dir}/new.db`).mode! & 0o777, 0o600);

    // Yesterday's file: today's tables, no user_version.
    const old = new DatabaseSync(`${dir}/old.db`);
    old.exec(
      "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items (name) VALUES ('kept')",
    );
    old.close();
    assert.equal(fileVersion(`${dir}/old.db`), 0);
    const migrated: string[] = [];
    const db = openVersioned(`${dir}/old.db`, schema(v1, v2, v3), {
      onMigrated: (report) => migrated.push(`${report.from}->${report.to} ${report.backup ?? ""}`),
    });
    assert.deepEqual(db.prepare("SELECT name, done FROM items").all().map((r) => ({ ...r })), [
      { name: "KEPT", done: 0 },
    ]);
    db.close();
    assert.equal(fileVersion(`${dir}/old.db`), 3);
    assert.deepEqual(migrated, [`0->3 ${dir}/old.db.v1.bak`]);
    const copy = new DatabaseSync(`${dir}/old.db.v1.bak`, { readOnly: true });
    assert.deepEqual(copy.prepare("SELECT name FROM items").all().map((r) => r.name), ["kept"]);
    assert.equal(
      (copy.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      0,
      "the copy is the file as it was opened, before every step",
    );
    copy.close();
    // A new file has nothing to keep.
    const reports: (string | undefined)[] = [];
    openVersioned(`${dir}/new3.db`, schema(v1, v2, v3), {
      onMigrated: (r) => reports.push(r.backup),
    }).close();
    assert.deepEqual(reports, [undefined]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openVersioned: a step that rewrites data keeps a consistent, owner-only copy first", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const db = openVersioned(`${dir}/x.db`, schema(v1, v2));
    db.exec("INSERT INTO items (name) VALUES ('before')");
    db.close();
    const reports: (string | undefined)[] = [];
    openVersioned(`${dir}/x.db`, schema(v1, v2, v3), { onMigrated: (r) => reports.push(r.backup) })
      .close();
    assert.deepEqual(reports, [`${dir}/x.db.v2.bak`]);
    assert.equal(Deno.statSync(`${dir}/x.db.v2.bak`).mode! & 0o777, 0o600);
    const copy = new DatabaseSync(`${dir}/x.db.v2.bak`, { readOnly: true });
    assert.deepEqual(copy.prepare("SELECT name FROM items").all().map((r) => r.name), ["before"]);
    assert.equal(
      (copy.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      2,
    );
    copy.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openVersioned: a file from a newer upbus is refused, named, and left byte for byte", () => {
  const dir = Deno.makeTempDirSync();
  try {
    openVersioned(`${dir}/x.db`, schema(v1, v2, v3)).close();
    const before = Deno.readFileSync(`${dir}/x.db`);
    const mtime = Deno.statSync(`${dir}/x.db`).mtime?.getTime();
    assert.throws(() => openVersioned(`${dir}/x.db`, schema(v1, v2)), (error: unknown) => {
      assert.ok(error instanceof NewerFileError);
      assert.match(error.message, new RegExp(`${dir}/x.db`));
      assert.match(error.message, /version 3.*knows up to 2/);
      assert.match(error.message, /docs\/operations\.md/);
      return true;
    });
    assert.deepEqual(Deno.readFileSync(`${dir}/x.db`), before);
    assert.equal(Deno.statSync(`${dir}/x.db`).mtime?.getTime(), mtime);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openVersioned: steps must count 1, 2, 3 without gaps", () => {
  assert.throws(() => openVersioned("/nonexistent/x.db", schema(v1, v3)), /without gaps/);
});

Deno.test("versioned JSON: no version is 1, steps run in order, newer refused and unchanged", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/state.json`;
    const jsonSchema = {
      name: "state",
      migrations: [{
        version: 2,
        description: "count",
        up: (v: Record<string, unknown>) => ({ ...v, count: 0 }),
      }],
    };
    assert.equal(readVersionedJson(path, jsonSchema), null);
    Deno.writeTextFileSync(path, JSON.stringify({ items: ["a"] }));
    assert.deepEqual(readVersionedJson(path, jsonSchema), { items: ["a"], count: 0, version: 2 });
    writeVersionedJson(path, { items: ["b"], count: 1 }, jsonSchema);
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    assert.deepEqual(JSON.parse(Deno.readTextFileSync(path)), {
      items: ["b"],
      count: 1,
      version: 2,
    });
    Deno.writeTextFileSync(path, JSON.stringify({ version: 9 }));
    assert.throws(() => readVersionedJson(path, jsonSchema), NewerJsonFileError);
    assert.equal(Deno.readTextFileSync(path), JSON.stringify({ version: 9 }));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
