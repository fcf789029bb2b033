/**
 * Versioned JSON state files: each holds a `version` field and is brought to the current format
 * when read. A file without the field is version 1 (the format before versions); a file newer
 * than this upbus knows is refused and not changed. Writing goes through a temporary file and a
 * rename, owner-only, so a crash leaves the old file or the new one, never half of one.
 *
 * @module
 */

/** One step from the previous format to `version`. */
export interface JsonMigration {
  /** The format this step produces: 2, 3, ... (version 1 is the unversioned format). */
  version: number;
  /** What it changes, in a few words. */
  description: string;
  /** Turns the previous format's object into this one's. */
  up(value: Record<string, unknown>): Record<string, unknown>;
}

/** The formats of one kind of JSON file. */
export interface JsonSchema {
  /** What the file is, for messages. */
  name: string;
  /** Steps after version 1, oldest first (empty while the format is version 1). */
  migrations: readonly JsonMigration[];
}

/** A JSON file whose format is newer than this upbus knows: it is left as it is. */
export class NewerJsonFileError extends Error {
  /** Creates the error for `path` at `found`, where this upbus knows up to `known`. */
  constructor(readonly path: string, readonly found: number, readonly known: number, name: string) {
    super(
      `Cannot read ${path}: this ${name} has format version ${found}, written by a newer upbus; ` +
        `this version of upbus knows up to ${known}. Run the newer upbus again, or restore the ` +
        `copy made before the upgrade (docs/operations.md, "Roll back"). The file was not changed.`,
    );
    this.name = "NewerJsonFileError";
  }
}

/** The latest version of a JSON schema. */
export function latestJsonVersion(schema: JsonSchema): number {
  schema.migrations.forEach((migration, index) => {
    if (migration.version !== index + 2) {
      throw new Error(
        `${schema.name}: JSON migration ${index + 1} must produce version ${index + 2}`,
      );
    }
  });
  return schema.migrations.length + 1;
}

/**
 * Brings a parsed state object to the latest format.
 *
 * @param value The parsed file.
 * @param path Its path, for messages.
 * @param schema Its formats.
 * @returns The object at the latest version, with its `version` field set.
 * @throws {NewerJsonFileError} If it is newer than the schema.
 *
 * @example
 * ```ts
 * import { upgradeJson } from "./versioned_json.ts";
 * const schema = { name: "state", migrations: [{ version: 2, description: "b", up: (v: Record<string, unknown>) => ({ ...v, b: 0 }) }] };
 * const value = upgradeJson({ a: 1 }, "state.json", schema);
 * if (value.version !== 2 || value.b !== 0) throw new Error("unexpected");
 * ```
 */
export function upgradeJson(
  value: Record<string, unknown>,
  path: string,
  schema: JsonSchema,
): Record<string, unknown> {
  const latest = latestJsonVersion(schema);
  const found = typeof value.version === "number" ? value.version : 1;
  if (found > latest) throw new NewerJsonFileError(path, found, latest, schema.name);
  let current = value;
  for (const migration of schema.migrations) {
    if (migration.version > found) current = migration.up(current);
  }
  return { ...current, version: latest };
}

/**
 * Reads a versioned JSON file, or `null` when it does not exist.
 *
 * @param path The file.
 * @param schema Its formats.
 * @returns The object at the latest version.
 * @throws {NewerJsonFileError} If the file is newer than this upbus.
 * @throws {SyntaxError} If it is not JSON.
 */
export function readVersionedJson(
  path: string,
  schema: JsonSchema,
): Record<string, unknown> | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return upgradeJson(JSON.parse(text) as Record<string, unknown>, path, schema);
}

/**
 * Writes a state object with its version, atomically and owner-only.
 *
 * @param path The file.
 * @param value What to store (its `version` field is set to the latest).
 * @param schema Its formats.
 */
export function writeVersionedJson(
  path: string,
  value: Record<string, unknown>,
  schema: JsonSchema,
): void {
  const text = JSON.stringify({ ...value, version: latestJsonVersion(schema) }, null, 2) + "\n";
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  Deno.writeTextFileSync(temporary, text, { mode: 0o600 });
  Deno.chmodSync(temporary, 0o600);
  Deno.renameSync(temporary, path);
}
