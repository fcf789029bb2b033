/**
 * The HTTP application: `POST /webhook`, `GET /healthz`, `GET /readyz` and `GET /metrics`, as
 * one Hono app that `Deno.serve` runs and tests call in process with `app.request()`.
 *
 * @module
 */
/**
 * Types of Hono, documented there; the tag keeps `deno doc --lint` from asking for them
 * here.
 *
 * @ignore
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { createIntake } from "./intake.ts";
import type { Logger } from "../runtime/log.ts";
import type { ServiceMetrics } from "../runtime/metrics.ts";
import type { SecretRing } from "./secret_ring.ts";
import { SIGNATURE_HEADER } from "./signature.ts";
import type { EventStore } from "../store/event_store.ts";
import { errorResponse } from "./errors.ts";
import { BodyIncompleteError, BodyTooLargeError, readBody } from "./read_body.ts";
import { createRefusalLog, type RefusalLog } from "./refusal_log.ts";

/** Options for {@linkcode createApp}. */
export interface AppOptions {
  /** Where accepted events are committed before the `200`. */
  store: EventStore;
  /** The webhook secrets signatures are checked against. */
  ring: SecretRing;
  /** Counts requests, refusals and their duration; rendered at `/metrics`. */
  metrics: ServiceMetrics;
  /** Where the app logs what it accepts and refuses. */
  logger: Logger;
  /** Largest accepted body in bytes. */
  maxBodyBytes: number;
  /** The relay's readiness check (see `describeRelay`); absent in embedded mode (no Kafka
   * configured). */
  kafkaCheck?: () => { ready: boolean; text: string };
  /** More readiness checks by name (the stages of `upbus run`); default none. */
  checks?: () => Record<string, { ready: boolean; text: string }>;
  /** Where refused requests are logged without flooding; default one made from `logger` (whose
   * summaries nobody writes: pass the service's, which it summarizes on a timer). */
  refusals?: RefusalLog;
  /** Monotonic clock in ms for latency; default `performance.now`. */
  clock?: () => number;
  /** Which routes: `all` (default), `webhook` (`/webhook` only, for the public listener) or
   * `operations` (`/healthz`, `/readyz`, `/metrics`, for a private one). */
  routes?: "all" | "webhook" | "operations";
}

function fail(c: Context, status: number, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status as 400);
}

/**
 * Creates the service's Hono app.
 *
 * @param options Store, secrets, metrics, logger, body cap and relay status.
 * @returns The app; pass `app.fetch` to `Deno.serve`.
 */
export function createApp(options: AppOptions): Hono {
  const { store, ring, metrics, logger, maxBodyBytes, kafkaCheck } = options;
  const clock = options.clock ?? (() => performance.now());
  const intake = createIntake({ ring, store, metrics, logger });
  const refusals = options.refusals ?? createRefusalLog({ logger });
  const app = new Hono();
  function webhookRoutes() {
    app.post("/webhook", async function receiveWebhook(c) {
      const started = clock();
      metrics.received.inc();
      try {
        const raw = await readBody(c.req.raw, { maxBytes: maxBodyBytes });
        const result = await intake.accept(raw, c.req.header(SIGNATURE_HEADER) ?? null);
        const { outcome, ...rest } = result;
        return c.json({ status: outcome, ...rest }, 200);
      } catch (error) {
        const response = errorResponse(error);
        if (error instanceof BodyTooLargeError) metrics.rejected.inc({ reason: "too_large" });
        if (error instanceof BodyIncompleteError) metrics.rejected.inc({ reason: error.reason });
        // A body that never arrived whole is the client's doing, even when its status is 503.
        if (response.status >= 500 && !(error instanceof BodyIncompleteError)) {
          logger.error("webhook not accepted; Up will retry", {
            status: response.status,
            error: (error as Error).message,
          });
        } else {
          // Anyone can cause these: logged once per reason, then summed per interval.
          refusals.record(response.code, { status: response.status });
        }
        return fail(c, response.status, response.code, response.message);
      } finally {
        metrics.requestSeconds.observe((clock() - started) / 1000);
      }
    });

    app.all("/webhook", function wrongMethod(c) {
      metrics.rejected.inc({ reason: "method" });
      refusals.record("method_not_allowed", { status: 405 });
      c.header("Allow", "POST");
      return fail(c, 405, "method_not_allowed", `Cannot ${c.req.method} /webhook: use POST`);
    });
  }

  function operationRoutes() {
    app.get("/healthz", function healthz(c) {
      return c.json({ status: "ok" });
    });

    app.get("/readyz", async function readyz(c) {
      const checks: Record<string, string> = {};
      let ready = true;
      try {
        await store.probe();
        checks.store = "ok";
      } catch (error) {
        ready = false;
        checks.store = (error as Error).message;
      }
      if (kafkaCheck === undefined) checks.kafka = "embedded mode: Kafka not configured";
      else {
        const kafka = kafkaCheck();
        checks.kafka = kafka.text;
        ready &&= kafka.ready;
      }
      // keys() looks at the webhook state file again (at most once a second): the secret of a
      // webhook deleted since no longer counts.
      const secrets = (await ring.keys()).length;
      checks.secrets = secrets > 0 ? "ok" : "no webhook secret configured";
      ready &&= secrets > 0;
      for (const [name, check] of Object.entries(options.checks?.() ?? {})) {
        checks[name] = check.text;
        ready &&= check.ready;
      }
      return c.json({ status: ready ? "ready" : "not ready", checks }, ready ? 200 : 503);
    });

    app.get("/metrics", function metricsText(c) {
      return c.text(metrics.render(), 200, {
        "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
      });
    });
  }

  const routes = options.routes ?? "all";
  if (routes !== "operations") webhookRoutes();
  if (routes !== "webhook") operationRoutes();

  app.notFound(function notFound(c) {
    refusals.record("not_found", { status: 404 });
    return fail(c, 404, "not_found", `Cannot ${c.req.method} ${c.req.path}: no such route`);
  });
  app.onError((error, c) => {
    logger.error("unhandled error", { error: error.message });
    const response = errorResponse(error);
    return fail(c, response.status, response.code, response.message);
  });
  return app;
}
