/**
 * @module Whole appends
 * How the ledger's plain-text files are written so that a crash never leaves half an entry that
 * a restart would mistake for a whole one. Each entry is appended whole: under an exclusive
 * `flock` (so another process of the group, or a start repairing the tail, never sees it half
 * written), every byte written (a short write goes on), then `fdatasync`; when any of that fails
 * (a full disk, an I/O error), the file is cut back to its size before the entry and the error
 * thrown, so the retry appends to a clean end. A crash in the middle (kill -9, power lost) can
 * still leave a torn tail: {@linkcode repairTail} moves it, at start, into `<file>.torn` and cuts
 * the file back to its last whole entry. The record of a torn entry was not yet committed (a
 * position is committed only after the entry is synced), so it is read and written again.
 */

/** Where a file's whole entries end: the byte offset just after the last one (0 for none). */
export type EntriesEnd = (bytes: Uint8Array) => number;

const NEWLINE = 0x0a;
const QUOTE = 0x22;

/**
 * The end of a journal's last whole entry: every entry ends with a blank line (`\n\n`), and no
 * entry holds one inside.
 *
 * @param bytes The journal's bytes.
 * @returns The offset just after the last `\n\n`, or 0.
 *
 * @example
 * ```ts
 * import { journalEntriesEnd } from "./whole_append.ts";
 * const whole = "2026-01-01 * A  ; id:a\n    x  1.00 AUD\n\n";
 * const bytes = new TextEncoder().encode(whole + "2026-01-02 * B");
 * if (journalEntriesEnd(bytes) !== whole.length) throw new Error("unexpected");
 * ```
 */
export function journalEntriesEnd(bytes: Uint8Array): number {
  for (let i = bytes.length - 1; i > 0; i--) {
    if (bytes[i] === NEWLINE && bytes[i - 1] === NEWLINE) return i + 1;
  }
  return 0;
}

/**
 * The end of a CSV file's last whole row: the last newline outside a quoted field. (UTF-8 never
 * puts a quote or a newline byte inside a longer character, so bytes can be scanned as they are.)
 *
 * @param bytes The CSV file's bytes.
 * @returns The offset just after the last row's newline, or 0.
 *
 * @example
 * ```ts
 * import { csvRowsEnd } from "./whole_append.ts";
 * const whole = 'id,description\na,"two\nlines"\n';
 * const bytes = new TextEncoder().encode(whole + 'b,"cut');
 * if (csvRowsEnd(bytes) !== whole.length) throw new Error("unexpected");
 * ```
 */
export function csvRowsEnd(bytes: Uint8Array): number {
  let quoted = false;
  let end = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === QUOTE) quoted = !quoted;
    else if (bytes[i] === NEWLINE && !quoted) end = i + 1;
  }
  return end;
}

/**
 * Appends `text` whole, or not at all (see the module doc).
 *
 * @param path The file, created owner-only when missing.
 * @param text The entry.
 * @returns The file's size just before the entry, read under the lock: the entry is the bytes
 * from there to that size plus the entry's length.
 * @throws {Deno.errors.PermissionDenied} If the file cannot be written.
 * @throws {Error} If writing or syncing failed; the file is back at its size before.
 *
 * @example
 * ```ts
 * import { appendWhole } from "./whole_append.ts";
 * const path = await Deno.makeTempFile();
 * await appendWhole(path, "a\n");
 * if (await appendWhole(path, "b\n") !== 2) throw new Error("unexpected");
 * if (await Deno.readTextFile(path) !== "a\nb\n") throw new Error("unexpected");
 * await Deno.remove(path);
 * ```
 */
export async function appendWhole(path: string, text: string): Promise<number> {
  const bytes = new TextEncoder().encode(text);
  using file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
  await file.lock(true);
  const { size } = await file.stat();
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.syncData();
  } catch (error) {
    // Cut back what part of the entry made it, so that the file ends with a whole entry.
    await file.truncate(size).then(() => file.syncData()).catch(() => {});
    throw error;
  }
  return size;
}

/**
 * Reads a file whole while no entry is being appended to it (a shared lock).
 *
 * @param path The file.
 * @returns Its text; `""` when it does not exist.
 * @throws {Deno.errors.PermissionDenied} If it cannot be read.
 *
 * @example
 * ```ts
 * import { readWhole } from "./whole_append.ts";
 * const dir = await Deno.makeTempDir();
 * if (await readWhole(`${dir}/journal.ledger`) !== "") throw new Error("unexpected");
 * await Deno.remove(dir);
 * ```
 */
export async function readWhole(path: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
  using locked = file;
  await locked.lock(false);
  return await Deno.readTextFile(path);
}

/** What {@linkcode repairTail} moved out of a file. */
export interface TornTail {
  /** The file that ended with a torn entry. */
  path: string;
  /** The bytes cut from its end. */
  bytes: number;
  /** Where they were kept (appended): `<path>.torn`. */
  keptIn: string;
}

/**
 * Cuts a torn entry off the end of a file and keeps it in `<path>.torn`, under an exclusive lock
 * (an append in progress elsewhere finishes first, so it is never taken for a torn one).
 *
 * @param path The file; nothing happens when it does not exist.
 * @param entriesEnd Where its last whole entry ends.
 * @returns What was cut, or `null` when the file ends with a whole entry.
 * @throws {Deno.errors.PermissionDenied} If the file cannot be written.
 *
 * @example
 * ```ts
 * import { csvRowsEnd, repairTail } from "./whole_append.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "id\na\nb,cu");
 * const torn = await repairTail(path, csvRowsEnd);
 * if (torn?.bytes !== 4 || await Deno.readTextFile(path) !== "id\na\n") throw new Error("unexpected");
 * await Deno.remove(path);
 * await Deno.remove(`${path}.torn`);
 * ```
 */
export async function repairTail(path: string, entriesEnd: EntriesEnd): Promise<TornTail | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  using locked = file;
  await locked.lock(true);
  const bytes = await Deno.readFile(path);
  const end = entriesEnd(bytes);
  if (end === bytes.length) return null;
  const keptIn = `${path}.torn`;
  await appendWhole(keptIn, new TextDecoder().decode(bytes.subarray(end)) + "\n");
  await locked.truncate(end);
  await locked.syncData();
  return { path, bytes: bytes.length - end, keptIn };
}
