/** The one kafkajs internal that request_queue_fix.ts touches: its per-connection queue. */
declare class RequestQueue {
  /** Makes the queue of one broker connection; kafkajs passes its own options. */
  constructor(options: Record<string, unknown>);
}
export default RequestQueue;
