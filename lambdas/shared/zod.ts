/**
 * zod, as every module here imports it: the tree-shakable `zod/mini` build with English messages.
 * The full build builds dozens of methods onto every schema and loads all of its locales; on this
 * machine that was ~25 ms of every Lambda's import. Mini parses with the same core, so issues and
 * their messages are the same, but it loads no locale of its own: without `en` every message
 * would read "Invalid input", and ours reach users (400 bodies, manifest problems, config errors).
 */
import { en } from 'zod/locales';
import * as z from 'zod/mini';

z.config(en());

export * from 'zod/mini';
// By name: reading it off the `core` namespace would keep all of core (and every locale) in a bundle.
export { $ZodError } from 'zod/v4/core';
