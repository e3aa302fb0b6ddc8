/**
 * Log records of the TypeScript side of an agent: its lifecycle (built,
 * joining, joined, closing, closed), membership events and connection
 * events. They go to the `debug` package under the targets below (turn them
 * on with `DEBUG=x0x:*`) and to the application's own logger given to
 * `AgentBuilder.withLogger`.
 *
 * The Rust core's own `tracing` output is not bridged here: what happens
 * inside the addon is not logged at all yet.
 *
 * @module
 */

import createDebug = require('debug');

/** Severity of a {@link LogRecord}, as pino and winston name theirs. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/**
 * Where a record comes from; also its `debug` namespace.
 * - `x0x:agent`: lifecycle of the agent;
 * - `x0x:membership`: `peer-joined`, `peer-suspected`, `peer-left`;
 * - `x0x:transport`: connections opening and closing.
 */
export type LogTarget = 'x0x:agent' | 'x0x:membership' | 'x0x:transport';

/** One log record, shaped to be handed to pino, winston or a console. */
export interface LogRecord {
  readonly level: LogLevel;
  readonly target: LogTarget;
  /** A short description, without the fields. */
  readonly message: string;
  /** Structured details: ids, addresses, reasons, error codes. */
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}

/**
 * Receives every record of the agents built with it. Called synchronously;
 * a logger that throws is ignored, so logging cannot break an agent.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * const log = pino();
 * Agent.builder().withLogger((r) => log[r.level]({ target: r.target, ...r.fields }, r.message));
 * ```
 */
export type Logger = (record: LogRecord) => void;

const TARGETS: readonly LogTarget[] = ['x0x:agent', 'x0x:membership', 'x0x:transport'];

/** One `debug` instance per target, shared by every agent. */
const sinks = new Map<LogTarget, createDebug.Debugger>(TARGETS.map((t) => [t, createDebug(t)]));

function formatFields(fields: LogRecord['fields']): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
}

/**
 * The log of one agent.
 *
 * @internal
 */
export class AgentLog {
  readonly #logger: Logger | undefined;

  constructor(logger: Logger | undefined) {
    this.#logger = logger;
  }

  /**
   * Whether a record for `target` would go anywhere; callers skip the work
   * of producing records (e.g. an event loop) when it would not.
   */
  enabled(target: LogTarget): boolean {
    return this.#logger !== undefined || (sinks.get(target)?.enabled ?? false);
  }

  /** Hands one record to the logger and to `debug`. */
  emit(level: LogLevel, target: LogTarget, message: string, fields: LogRecord['fields'] = {}): void {
    if (this.#logger !== undefined) {
      try {
        this.#logger({ level, target, message, fields });
      } catch {
        // See Logger: a broken logger must not break the agent.
      }
    }
    const sink = sinks.get(target);
    if (sink?.enabled) {
      const details = formatFields(fields);
      sink('%s', details === '' ? `${level} ${message}` : `${level} ${message} ${details}`);
    }
  }
}
