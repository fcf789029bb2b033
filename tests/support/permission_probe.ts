/**
 * Prints what the permission set it runs under grants: one JSON object, descriptor -> state.
 * Run with `deno run -P=<set> tests/support/permission_probe.ts '<descriptors as JSON>'`; it
 * asks only (`Deno.permissions.query`), it touches nothing.
 *
 * @module
 */
const descriptors = JSON.parse(Deno.args[0]) as Deno.PermissionDescriptor[];
const states: Record<string, string> = {};
for (const descriptor of descriptors) {
  states[JSON.stringify(descriptor)] = (await Deno.permissions.query(descriptor)).state;
}
console.log(JSON.stringify(states));
