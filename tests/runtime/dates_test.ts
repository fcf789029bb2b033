import assert from "node:assert/strict";
import { dayInZone, localDateTime, parseDateArg, startOfDayIn } from "../../lib/runtime/dates.ts";

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

// Sydney's daylight saving ends at 03:00 on 2026-04-05 (+11 to +10) and starts at 02:00 on
// 2026-10-04 (+10 to +11): a day of 25 hours and one of 23.
const DST_DAYS: Array<[string, string, string]> = [
  // [instant, Sydney day, Sydney time]
  ["2026-04-04T12:30:00Z", "2026-04-04", "23:30"], // the evening before the change, +11
  ["2026-04-04T13:30:00Z", "2026-04-05", "00:30"], // 00:30 on the change day, still +11
  ["2026-04-05T13:30:00Z", "2026-04-05", "23:30"], // 23:30 on the change day, now +10
  ["2026-10-03T13:30:00Z", "2026-10-03", "23:30"], // the evening before, +10
  ["2026-10-03T14:30:00Z", "2026-10-04", "00:30"], // 00:30 on the change day, still +10
  ["2026-10-04T12:30:00Z", "2026-10-04", "23:30"], // 23:30 on the change day, now +11
];

Deno.test("dayInZone() puts 23:30 and 00:30 on a daylight-saving change day on the Sydney day", () => {
  for (const [instant, day, time] of DST_DAYS) {
    assert.equal(dayInZone(instant, "Australia/Sydney"), day, instant);
    assert.equal(dayInZone(Date.parse(instant), "Australia/Sydney"), day, instant);
    assert.equal(dayInZone(new Date(instant)), day, `${instant}, the default zone`);
    assert.deepEqual(localDateTime(instant, "Australia/Sydney"), { day, time }, instant);
  }
  // The same instant is another day in another zone.
  assert.equal(dayInZone("2026-04-04T13:30:00Z", "UTC"), "2026-04-04");
  assert.deepEqual(localDateTime("2026-04-04T13:30:00Z", "UTC"), {
    day: "2026-04-04",
    time: "13:30",
  });
});

Deno.test("dayInZone() refuses a zone that is not an IANA time zone", () => {
  assert.throws(() => dayInZone(0, "Mars/Olympus"), RangeError);
});

Deno.test("startOfDayIn() gives the first instant of the day with the offset of that moment", () => {
  assert.equal(startOfDayIn("2026-07-01", "Australia/Sydney"), "2026-07-01T00:00:00+10:00");
  assert.equal(startOfDayIn("2026-01-01", "Australia/Sydney"), "2026-01-01T00:00:00+11:00");
  // Both change days start at midnight, at the offset before the change.
  assert.equal(startOfDayIn("2026-04-05", "Australia/Sydney"), "2026-04-05T00:00:00+11:00");
  assert.equal(startOfDayIn("2026-10-04", "Australia/Sydney"), "2026-10-04T00:00:00+10:00");
  // Where a change skips midnight (Santiago, 2026-09-06), the day starts at 01:00.
  assert.equal(startOfDayIn("2026-09-06", "America/Santiago"), "2026-09-06T01:00:00-03:00");
  // And it is the instant parseDateArg() reads the same plain date as.
  assert.equal(
    Date.parse(startOfDayIn("2026-10-04", "Australia/Sydney")),
    parseDateArg("2026-10-04", { flag: "--since", timeZone: "Australia/Sydney" }).getTime(),
  );
  assert.throws(() => startOfDayIn("2026-02-30", "Australia/Sydney"), RangeError);
});
