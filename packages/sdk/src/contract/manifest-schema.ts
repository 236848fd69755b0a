import * as z from '../zod.js';
import { messageQuote } from './message-quote.js';
import { PLUGIN_NAME_RE } from './names.js';

/**
 * What a `plugin.yaml` may hold, as a schema apart from the YAML parsing in manifest.ts: the API
 * reads registry entries with it, and importing it does not load the YAML parser there.
 */

/** A manifest is a few lines of YAML; anything bigger is not one. */
export const MAX_MANIFEST_BYTES = 256 * 1024;

const list = <T extends z.ZodMiniType<string>>(item: T) =>
  z.pipe(
    z.nullish(z.array(item).check(z.maxLength(1000))),
    z.transform((v: z.output<T>[] | null | undefined) => v ?? []),
  );
const noControlCharacters = z.refine<string>((v) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(v), { error: 'must not contain control characters' });
/**
 * Free text that ends up in the database, listings and logs: bounded, and without control
 * characters (a NUL cannot even be stored in PostgreSQL text), but newlines and tabs are fine.
 */
const text = (max: number) => z.string().check(z.maxLength(max), noControlCharacters);
/** A version, tag, runtime or rule path: one short line. */
const token = (max: number) =>
  z.string().check(
    z.maxLength(max),
    noControlCharacters,
    z.refine<string>((v) => !/[\n\t]/.test(v), { error: 'must be one line' }),
  );
const name = z.string().check(z.regex(PLUGIN_NAME_RE, { error: (issue) => `invalid name ${messageQuote(String(issue.input))}` }));
const optional = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.nullish(schema),
    z.transform((v: z.output<T> | null | undefined) => v ?? undefined),
  );

/** `plugin.yaml` (SPEC §3). Unknown keys (hooks, commands, ...) belong to the runtime and are ignored here. */
export const Manifest = z.object({
  name: optional(name.brand<'PluginName'>()),
  version: optional(token(128)),
  // The validator sets no limit; the manifest's own size bounds it.
  description: optional(text(MAX_MANIFEST_BYTES)),
  author: optional(text(256)),
  tags: list(token(64)),
  skills: list(name),
  runtimes: list(token(64)),
  rules: list(token(1024)),
  sha256: optional(z.string().check(z.regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex characters' }))),
});
export type Manifest = z.infer<typeof Manifest>;
