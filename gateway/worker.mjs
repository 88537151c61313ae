// Entry module of the `hoox` worker (wrangler.jsonc `main`): the Rust build, with two
// adjustments worker-build's shim does not make.
import { DurableObject } from "cloudflare:workers";
import gateway, { IdempotencyStore } from "./build/index.js";

// The runtime exposes JS RPC only on subclasses of DurableObject, and every caller of the
// store uses RPC (`stub.operate(op, json)`) rather than fetch.
Object.setPrototypeOf(IdempotencyStore.prototype, DurableObject.prototype);
Object.setPrototypeOf(IdempotencyStore, DurableObject);

// Rust futures are woken through `queueMicrotask`, which the runtime implements by wrapping
// each callback in an object its garbage collector must later destroy, and under load those
// collections stall every request in flight. A resolved promise's `then` schedules the same
// microtask inside V8 alone. Only this worker's own code runs in its isolate.
const resolved = Promise.resolve();
globalThis.queueMicrotask = (callback) => {
  resolved.then(callback);
};

export { IdempotencyStore };
export default gateway;
