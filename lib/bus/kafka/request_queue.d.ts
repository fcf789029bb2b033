/** The one kafkajs internal that request_queue_fix.ts touches: its per-connection queue. */
declare class RequestQueue {
  constructor(options: Record<string, unknown>);
}
export default RequestQueue;
