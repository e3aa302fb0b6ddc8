// Types for third-party-notices.mjs, so the drift test in test/unit can call
// it under the strict tsconfig without allowJs.

/** The committed output, relative to the repository root. */
export declare const NOTICES_FILE: string;

/** The Rust target triples whose dependency graphs the notices cover. */
export declare const TARGETS: readonly string[];

/**
 * Builds the whole notices file from the lock files, cargo metadata and the
 * installed or downloaded sources, without writing anything.
 * @param options.root the repository (default: the one holding the script)
 * @returns the Markdown text, ending in a newline
 */
export declare function generateNotices(options?: { root?: string }): string;
