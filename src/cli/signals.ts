/**
 * Shutdown on SIGINT and SIGTERM for long-running commands.
 *
 * @internal
 * @module
 */

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** A signal that aborts on the first SIGINT or SIGTERM, and which one it was. */
export interface Shutdown {
  readonly signal: AbortSignal;
  /** The signal received, once one was. */
  readonly received: () => NodeJS.Signals | undefined;
  /** Removes the handlers; a later signal gets Node's default (the process dies). */
  readonly dispose: () => void;
}

/**
 * Listens for the first SIGINT or SIGTERM. Only the first is caught: a
 * second one finds no handler and ends the process at once, the usual way
 * out of a shutdown that hangs.
 */
export function onShutdownSignal(): Shutdown {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (name: NodeJS.Signals): void => {
    received = name;
    dispose();
    controller.abort(new Error(`received ${name}`));
  };
  const dispose = (): void => {
    for (const name of SIGNALS) process.off(name, handler);
  };
  for (const name of SIGNALS) process.on(name, handler);
  return { signal: controller.signal, received: () => received, dispose };
}
