/** The one kafkajs internal that encoder_fix.ts touches: its protocol encoder. */
declare class Encoder {
  /** Makes an encoder with a buffer of at least `initialSize` bytes (default 511). */
  constructor(initialSize?: number);
  /** The bytes written so far. */
  get buffer(): Uint8Array;
  /** Writes `value` as an unsigned LEB128 varint. */
  writeUVarInt(value: number): Encoder;
  /** Writes `value` zigzag-encoded as a varint. */
  writeVarInt(value: number): Encoder;
}
export default Encoder;
