/**
 * Makes kafkajs 2.2.4 write a varint without allocating a Buffer for it.
 *
 * Its `Encoder.writeUVarInt` collects the bytes of each varint in an array, makes a `Buffer` of
 * it with `Buffer.from` and copies that into the encoder's buffer. A record carries about twenty
 * varints (its length, key and value lengths, and a key and a value length for each of its
 * eight CloudEvents headers), and under Deno each `Buffer` is a `Uint8Array` subclass whose
 * construction costs about a microsecond: a CPU profile of the relay draining 20 000 events
 * (`deno task bench:relay`) put a fifth of the relay worker's time in making those Buffers. This
 * module replaces the method with one that writes the same bytes straight into the encoder's
 * buffer (tests/bus/kafka/encoder_fix_test.ts checks them against kafkajs's own).
 *
 * Importing it applies it to every kafkajs client of the isolate (a Worker imports it again):
 * import it where Kafka clients are made, before they send.
 *
 * @module
 */
// kafkajs ships no types for its internals.
// @ts-types="./encoder.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";

/** The part of kafkajs's `Encoder` the replacement uses. */
interface EncoderState {
  buf: Uint8Array;
  offset: number;
  ensureAvailable(length: number): void;
}

/** kafkajs's own varint masks (`UNSIGNED_INT32_MAX_NUMBER`, `OTHER_BITS`, the high bit). */
const HIGH_BITS = 0xffffff80;
const LOW_BITS = 0x7f;
const MORE = 0x80;

/** kafkajs's `writeUVarInt`, kept to compare with (tests) before it is replaced. */
export const originalWriteUVarInt: (this: unknown, value: number) => unknown =
  (Encoder.prototype as unknown as { writeUVarInt: (value: number) => unknown }).writeUVarInt;

/** Whether the replacement is in place (it is once this module has loaded). */
export const ENCODER_FIXED: boolean = (() => {
  const prototype = Encoder.prototype as unknown as EncoderState & {
    writeUVarInt(value: number): unknown;
  };
  prototype.writeUVarInt = function writeUVarInt(this: EncoderState, value: number) {
    this.ensureAvailable(5); // a 32-bit value takes at most 5 bytes
    const buf = this.buf;
    let offset = this.offset;
    while ((value & HIGH_BITS) !== 0) {
      buf[offset++] = (value & LOW_BITS) | MORE;
      value >>>= 7;
    }
    buf[offset++] = value & LOW_BITS;
    this.offset = offset;
    return this;
  };
  return true;
})();
