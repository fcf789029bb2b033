/**
 * Stops kafkajs 2.2.4 from waking every broker connection once a millisecond while idle.
 *
 * Its `RequestQueue.scheduleCheckPendingRequests` re-arms a timer after every check, even with
 * nothing pending and no throttle, with a negative delay that timers clamp to 1 ms (kafkajs
 * issues #1556, #1604, #1704, #1751; the fix of pull request #1667 is not released). Measured by
 * `deno task bench`: about 440 wake-ups a second and 3 % of a core for each idle process that
 * holds a Kafka connection (the service, `enrich`, each consumer), which a Raspberry Pi pays
 * around the clock. This module replaces the method with one that arms the timer only when a
 * request waits or a throttle ends later, as that pull request does; requests that can be sent
 * are sent at once by `push`, and each response checks the queue again, as before.
 *
 * Importing it applies it to every kafkajs client of the isolate (a Worker imports it again):
 * import it where Kafka clients are made, before they connect.
 *
 * @module
 */
// kafkajs ships no types for its internals.
// @ts-types="./request_queue.d.ts"
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";

/** kafkajs's own delay between checks while requests wait (`CHECK_PENDING_REQUESTS_INTERVAL`). */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

/** The part of kafkajs's `RequestQueue` the replacement uses. */
interface QueueState {
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  pending: unknown[];
  checkPendingRequests(): void;
}

/** Whether the replacement is in place (it is once this module has loaded). */
export const REQUEST_QUEUE_FIXED: boolean = (() => {
  const prototype = RequestQueue.prototype as unknown as QueueState & {
    scheduleCheckPendingRequests(): void;
  };
  prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(
    this: QueueState,
  ) {
    if (this.throttleCheckTimeoutId) return;
    let delay = this.throttledUntil - Date.now();
    if (this.pending.length > 0) delay = delay > 0 ? delay : CHECK_PENDING_REQUESTS_INTERVAL_MS;
    else if (delay <= 0) return; // nothing waits and no throttle: nothing to check
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, delay);
  };
  return true;
})();
