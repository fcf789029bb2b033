/**
 * A child process for the shared-file test: opens `DATA_DIR/transaction_states.db` in the data
 * directory `Deno.args[0]` (creating it when it is the first), remembers the key `Deno.args[1]` as
 * SETTLED, and prints `ok`, as a sink of enrich, backfill or the service's reconciliation does
 * when they start together.
 *
 * @module
 */
import { openTransactionStates } from "../../lib/bus/kafka/transaction_states.ts";

const states = openTransactionStates(Deno.args[0]);
try {
  states.remember([{ key: Deno.args[1], mark: { state: "SETTLED", digest: Deno.args[1] } }]);
} finally {
  states.close();
}
console.log("ok");
