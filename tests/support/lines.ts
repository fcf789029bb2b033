/**
 * Splits a text stream into lines (std's TextLineStream is on JSR, which is out of reach here).
 *
 * @module
 */

/** A TransformStream from text chunks to lines, without their line endings. */
export class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let buffered = "";
    super({
      transform(chunk, controller) {
        buffered += chunk;
        const lines = buffered.split(/\r?\n/);
        buffered = lines.pop() ?? "";
        for (const line of lines) controller.enqueue(line);
      },
      flush(controller) {
        if (buffered !== "") controller.enqueue(buffered);
      },
    });
  }
}
