/**
 * lib/bus/kafka/encoder_fix.ts: kafkajs's varints written without a Buffer each are the bytes
 * kafkajs's own method writes (tests/relay/relay_test.ts reads whole records back with kcat).
 */
import assert from "node:assert/strict";
// @ts-types="../../../lib/bus/kafka/encoder.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
import { ENCODER_FIXED, originalWriteUVarInt } from "../../../lib/bus/kafka/encoder_fix.ts";

const VALUES = [
  0,
  1,
  63,
  64,
  127,
  128,
  255,
  300,
  16_383,
  16_384,
  2 ** 21 - 1,
  2 ** 21,
  2 ** 28 - 1,
  2 ** 28,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
];

Deno.test("a varint written by the fix is the bytes kafkajs's own writeUVarInt writes", () => {
  assert.equal(ENCODER_FIXED, true);
  const prototype = Encoder.prototype as unknown as { writeUVarInt: unknown };
  assert.notEqual(prototype.writeUVarInt, originalWriteUVarInt, "kafkajs's method is replaced");
  for (const value of VALUES) {
    const fixed = new Encoder(1).writeUVarInt(value).buffer;
    const original = new Encoder(1);
    originalWriteUVarInt.call(original, value);
    assert.deepEqual([...fixed], [...original.buffer], `value ${value}`);
  }
});

Deno.test("varints, signed and unsigned, in a row and across the buffer's growth, as kafkajs writes them", () => {
  const fixed = new Encoder(1);
  const original = new Encoder(1);
  const originalSigned = (value: number) =>
    originalWriteUVarInt.call(original, (value << 1) ^ (value >> 31));
  for (let i = 0; i < 2000; i++) {
    const value = (i * 2_654_435_761) % 2 ** 31 * (i % 2 === 0 ? 1 : -1);
    fixed.writeVarInt(value);
    originalSigned(value);
    fixed.writeUVarInt(i);
    originalWriteUVarInt.call(original, i);
  }
  assert.deepEqual([...fixed.buffer], [...original.buffer]);
});
