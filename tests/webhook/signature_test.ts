import assert from "node:assert/strict";
import {
  importSecret,
  parseSignatureHeader,
  SignatureError,
  signBody,
  verifySignature,
} from "../../lib/webhook/signature.ts";

interface Vector {
  file: string;
  secret: string;
  signature: string;
}

const { vectors } = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/signature_vectors.json", import.meta.url)),
) as { vectors: Vector[] };

async function body(file: string): Promise<Uint8Array<ArrayBuffer>> {
  return await Deno.readFile(new URL(`../testdata/${file}`, import.meta.url));
}

Deno.test("signBody() matches signatures computed independently with openssl", async () => {
  assert.ok(vectors.length >= 4);
  for (const vector of vectors) {
    assert.equal(await signBody(await body(vector.file), vector.secret), vector.signature);
  }
});

Deno.test("verifySignature() accepts every openssl vector and says which key matched", async () => {
  for (const vector of vectors) {
    const keys = [await importSecret("not-this-one"), await importSecret(vector.secret)];
    assert.equal(await verifySignature(await body(vector.file), vector.signature, { keys }), 1);
  }
});

Deno.test("verifySignature() accepts each form the module allows, and only those", async (t) => {
  const [vector] = vectors;
  const keys = [await importSecret(vector.secret)];
  const raw = await body(vector.file);
  const hex = vector.signature;
  const accepted: Array<[string, string]> = [
    ["exactly 64 lowercase hex characters", hex],
    ["leading and trailing SP (RFC 9110 OWS)", `  ${hex} `],
    ["leading and trailing HTAB (RFC 9110 OWS)", `\t${hex}\t`],
  ];
  for (const [form, header] of accepted) {
    await t.step(`accepted: ${form}`, async () => {
      assert.equal(await verifySignature(raw, header, { keys }), 0);
    });
  }
  const refused: Array<[string, string | null, string]> = [
    ["absent", null, "missing"],
    ["empty", "", "missing"],
    ["only SP and HTAB", " \t ", "missing"],
    [
      "uppercase hex (Up sends lowercase; its reference checks compare strings)",
      hex.toUpperCase(),
      "malformed",
    ],
    ["mixed case", hex.slice(0, 32) + hex.slice(32).toUpperCase(), "malformed"],
    [
      "U+00A0 around it (not HTTP whitespace; JavaScript's trim() would strip it)",
      `\u00a0${hex}\u00a0`,
      "malformed",
    ],
    ["a trailing CR LF", `${hex}\r\n`, "malformed"],
    ["a vertical tab before it", `\v${hex}`, "malformed"],
    ["a sha256= prefix", `sha256=${hex}`, "malformed"],
    ["SP inside", `${hex.slice(0, 32)} ${hex.slice(32)}`, "malformed"],
    ["63 characters", hex.slice(1), "malformed"],
    ["66 characters", `${hex}00`, "malformed"],
    ["a non-hex character", hex.replace(/^./, "z"), "malformed"],
  ];
  for (const [form, header, reason] of refused) {
    await t.step(`refused as ${reason}: ${form}`, async () => {
      await assert.rejects(
        verifySignature(raw, header, { keys }),
        (error: unknown) => error instanceof SignatureError && error.reason === reason,
      );
    });
  }
});

Deno.test("parseSignatureHeader() returns the bare lowercase hex that is stored with the event", () => {
  const hex = "ab".repeat(32);
  assert.equal(parseSignatureHeader(` \t${hex}\t `), hex);
  assert.throws(() => parseSignatureHeader(hex.toUpperCase()), SignatureError);
});

Deno.test("verifySignature() rejects a body changed after signing", async () => {
  const [vector] = vectors;
  const raw = await body(vector.file);
  const changed = new Uint8Array(raw);
  changed[changed.length - 3] ^= 1;
  const keys = [await importSecret(vector.secret)];
  await assert.rejects(
    verifySignature(changed, vector.signature, { keys }),
    (error: unknown) => error instanceof SignatureError && error.reason === "mismatch",
  );
});

Deno.test("verifySignature() rejects re-serialised JSON with the same meaning", async () => {
  const [vector] = vectors;
  const raw = await body(vector.file);
  const pretty = new TextEncoder().encode(
    JSON.stringify(JSON.parse(new TextDecoder().decode(raw)), null, 2),
  );
  await assert.rejects(
    verifySignature(pretty, vector.signature, { keys: [await importSecret(vector.secret)] }),
    SignatureError,
  );
});

Deno.test("verifySignature() tells missing, malformed and mismatched headers apart", async (t) => {
  const [vector] = vectors;
  const raw = await body(vector.file);
  const keys = [await importSecret(vector.secret)];
  const cases: Array<[string | null, string]> = [
    [null, "missing"],
    ["", "missing"],
    ["abc", "malformed"],
    [`${vector.signature}00`, "malformed"],
    [vector.signature.replace(/^./, "z"), "malformed"],
    ["0".repeat(64), "mismatch"],
  ];
  for (const [header, reason] of cases) {
    await t.step(`${JSON.stringify(header)} is ${reason}`, async () => {
      await assert.rejects(
        verifySignature(raw, header, { keys }),
        (error: unknown) => error instanceof SignatureError && error.reason === reason,
      );
    });
  }
});

Deno.test("verifySignature() with no keys rejects everything as a mismatch", async () => {
  const [vector] = vectors;
  await assert.rejects(
    verifySignature(await body(vector.file), vector.signature, { keys: [] }),
    (error: unknown) => error instanceof SignatureError && error.reason === "mismatch",
  );
});

Deno.test("importSecret() refuses an empty secret", async () => {
  await assert.rejects(importSecret(""), TypeError);
});
