/**
 * Test helper: validates Up API responses and webhook event bodies against the schemas of Up's
 * OpenAPI 3.0.3 spec (`tests/testdata/up_openapi.json`) with Ajv. `nullable` is turned into JSON
 * Schema's `null` type, and every object that lists its properties is closed
 * (`additionalProperties: false`), so a misspelt member fails too. The one member Up sends that
 * its spec does not list, `deepLinkURL` on a transaction, is added to the schema as a string:
 * allowed and typed, while any other extra member still fails.
 *
 * @module
 */
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";

// deno-lint-ignore no-explicit-any
type Json = any;

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;

/** One HTTP exchange to validate. */
export interface RecordedResponse {
  method: string;
  url: string;
  status: number;
  body: string;
}

function convert(node: Json): Json {
  if (Array.isArray(node)) return node.map(convert);
  if (typeof node !== "object" || node === null) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "example" || key === "nullable" || key.startsWith("x-")) continue;
    out[key] = key === "properties"
      ? Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, convert(v)]))
      : convert(value);
  }
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  if (node.nullable === true) {
    if (typeof out.type === "string") {
      out.type = [out.type, "null"];
      if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    } else {
      return { anyOf: [{ type: "null" }, out] };
    }
  }
  return out;
}

/** A loaded spec. */
export interface UpSpec {
  /**
   * Validates a value against one of `components.schemas`.
   *
   * @returns The errors, empty when valid.
   */
  validateSchema(name: string, value: unknown): string[];
  /**
   * Validates a recorded response against the operation's documented response; statuses of 400
   * and above that the operation does not document are checked against `ErrorResponse`.
   *
   * @returns The errors, empty when valid.
   */
  validateResponse(record: RecordedResponse): string[];
}

/**
 * Loads the spec and compiles its schemas.
 *
 * @returns The validator.
 */
export async function loadUpSpec(): Promise<UpSpec> {
  const spec = JSON.parse(
    await Deno.readTextFile(new URL("../testdata/up_openapi.json", import.meta.url)),
  );
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const schemas = convert(spec.components.schemas);
  // Up returns it (an `up://` link into the app) though the spec lacks it.
  schemas.TransactionResource.properties.attributes.properties.deepLinkURL = { type: "string" };
  ajv.addSchema({ $id: "up", components: { schemas } });
  const cache = new Map<string, ReturnType<Ajv["compile"]>>();
  const validator = (name: string) => {
    let validate = cache.get(name);
    if (validate === undefined) {
      if (!(name in spec.components.schemas)) throw new Error(`No schema ${name} in the spec`);
      validate = ajv.compile({ $ref: `up#/components/schemas/${name}` });
      cache.set(name, validate);
    }
    return validate;
  };
  const validateSchema = (name: string, value: unknown): string[] => {
    const validate = validator(name);
    if (validate(value)) return [];
    return (validate.errors ?? []).map((error) =>
      `${name}${error.instancePath} ${error.message} ${JSON.stringify(error.params)}`
    );
  };
  const operations = Object.entries(spec.paths as Record<string, Json>).map(([path, item]) => ({
    pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
    item,
  }));
  return {
    validateSchema,
    validateResponse(record) {
      const url = new URL(record.url);
      const path = url.pathname.replace(/^\/api\/v1/, "");
      const operation = operations.find((candidate) => candidate.pattern.test(path))
        ?.item[record.method.toLowerCase()];
      if (operation === undefined) return [`${record.method} ${path} is not in the spec`];
      const documented = operation.responses[String(record.status)];
      if (record.status === 204) {
        return documented && record.body === "" ? [] : [`unexpected 204 from ${path}`];
      }
      const ref: string | undefined = documented?.content?.["application/json"]?.schema?.$ref;
      const name = ref?.split("/").pop() ??
        (record.status >= 400 ? "ErrorResponse" : undefined);
      if (name === undefined) {
        return [`${record.method} ${path} answered ${record.status}, which the spec does not list`];
      }
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch {
        return [`${record.method} ${path} answered a body that is not JSON`];
      }
      return validateSchema(name, body).map((error) => `${record.method} ${path}: ${error}`);
    },
  };
}

/**
 * Wraps a fetch so that every response is recorded (the caller still gets an unread one).
 *
 * @param records Where to append each exchange.
 * @param inner The fetch to wrap. Default the global one.
 * @returns The recording fetch.
 */
export function recordingFetch(
  records: RecordedResponse[],
  inner: typeof fetch = fetch,
): typeof fetch {
  return async function recordResponse(input, init) {
    const request = new Request(input, init);
    const response = await inner(request);
    records.push({
      method: request.method,
      url: request.url,
      status: response.status,
      body: await response.clone().text(),
    });
    return response;
  };
}
