/**
 * `Symbol.asyncDispose` for Node releases that predate it.
 *
 * Node 20.4+ already defines it as `Symbol.for('nodejs.asyncDispose')`; using
 * the same registered symbol elsewhere keeps `await using` (as compiled by
 * TypeScript or esbuild) and Node's own disposable objects agreeing on the key.
 * Every module that defines a `[Symbol.asyncDispose]` method imports this first,
 * because the key is read when the class is defined.
 *
 * @internal
 * @module
 */

// The lib typings declare the symbol as always present; on old runtimes it is not.
const symbols = Symbol as { asyncDispose?: symbol };
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');

export {};
