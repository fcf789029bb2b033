import assert from "node:assert/strict";
import { parseDateArg } from "../../lib/runtime/dates.ts";

Deno.test("parseDateArg() reads a plain date as the start of that day in the zone, summer or winter", () => {
  // Sydney is UTC+11 in January (daylight saving) and UTC+10 in July.
  assert.equal(
    parseDateArg("2024-01-01", { flag: "--since", timeZone: "Australia/Sydney" }).toISOString(),
    "2023-12-31T13:00:00.000Z",
  );
  assert.equal(
    parseDateArg("2024-07-01", { flag: "--since", timeZone: "Australia/Sydney" }).toISOString(),
    "2024-06-30T14:00:00.000Z",
  );
  assert.equal(
    parseDateArg("2024-07-01", { flag: "--since", timeZone: "UTC" }).toISOString(),
    "2024-07-01T00:00:00.000Z",
  );
  // The default zone is Sydney's.
  assert.equal(
    parseDateArg("2024-07-01", { flag: "--since" }).toISOString(),
    "2024-06-30T14:00:00.000Z",
  );
});

Deno.test("parseDateArg() passes an RFC 3339 timestamp through as the instant it names", () => {
  for (
    const [value, iso] of [
      ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z"],
      ["2024-01-01T09:30:00+11:00", "2023-12-31T22:30:00.000Z"],
      ["2024-01-01T09:30:00.250-05:00", "2024-01-01T14:30:00.250Z"],
    ]
  ) {
    assert.equal(parseDateArg(value, { flag: "--until", timeZone: "UTC" }).toISOString(), iso);
  }
});

Deno.test("parseDateArg() refuses anything else, naming the flag, the value and the accepted forms", () => {
  for (
    const value of [
      "01/02/2024",
      "2024-02-30",
      "2024-01-01T09:30",
      "2024-01-01T25:00:00Z",
      "yesterday",
      "",
    ]
  ) {
    assert.throws(
      () => parseDateArg(value, { flag: "--since", timeZone: "Australia/Sydney" }),
      (error: Error) =>
        error instanceof RangeError &&
        error.message.startsWith(`--since is "${value}", expected a date such as 2024-01-01`) &&
        error.message.includes("Australia/Sydney, set by TZ") && error.message.includes("RFC 3339"),
      value,
    );
  }
});
