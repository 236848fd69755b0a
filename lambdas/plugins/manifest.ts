import YAML, { type Tags } from 'yaml';
import { z } from 'zod';
import { ManifestInvalid } from '../shared/errors.js';
import { PLUGIN_NAME_RE } from '../shared/types.js';
import { quote } from './quote.js';

/** Where a plugin's manifest lives, relative to its root. */
export const MANIFEST_PATH = 'plugin.yaml';

/** A manifest is a few lines of YAML; anything bigger is not one. */
export const MAX_MANIFEST_BYTES = 256 * 1024;

const list = <T extends z.ZodType<string>>(item: T) =>
  z.array(item).max(1000).nullish().transform((v) => v ?? []);
/**
 * Free text that ends up in the database, listings and logs: bounded, and without control
 * characters (a NUL cannot even be stored in PostgreSQL text), but newlines and tabs are fine.
 */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(v), { error: 'must not contain control characters' });
/** A version, tag, runtime or rule path: one short line. */
const token = (max: number) => text(max).refine((v) => !/[\n\t]/.test(v), { error: 'must be one line' });
const name = z.string().regex(PLUGIN_NAME_RE, { error: (issue) => `invalid name ${quote(String(issue.input))}` });
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

/** `plugin.yaml` (SPEC §3). Unknown keys (hooks, commands, ...) belong to the runtime and are ignored here. */
export const Manifest = z.object({
  name: optional(name.brand<'PluginName'>()),
  version: optional(token(128)),
  description: optional(text(4096)),
  author: optional(text(256)),
  tags: list(token(64)),
  skills: list(name),
  runtimes: list(token(64)),
  rules: list(token(1024)),
  sha256: optional(z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex characters' })),
});
export type Manifest = z.infer<typeof Manifest>;

/** Numbers stay as written (`version: 1.0` is "1.0", an all-digit sha256 keeps its zeros). */
const NUMBER_TAGS = ['tag:yaml.org,2002:int', 'tag:yaml.org,2002:float'];
const withoutNumbers = (tags: Tags): Tags => tags.filter((tag) => typeof tag === 'string' || !NUMBER_TAGS.includes(tag.tag));

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses the bytes of a `plugin.yaml`; anything wrong with it is `manifest_invalid`. */
export function parseManifest(bytes: Uint8Array): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new ManifestInvalid(`plugin.yaml is larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(utf8.decode(bytes), { customTags: withoutNumbers, logLevel: 'error' });
  } catch (err) {
    const reason = err instanceof Error ? (err.message.split('\n')[0] ?? '') : 'unreadable';
    throw new ManifestInvalid(`plugin.yaml is not valid YAML: ${reason}`, {}, { cause: err });
  }
  if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new ManifestInvalid('plugin.yaml must be a mapping');
  }
  const parsed = Manifest.safeParse(doc ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ManifestInvalid(`plugin.yaml is invalid: ${problems.slice(0, 5).join('; ')}`, { problems: problems.slice(0, 20) });
  }
  return parsed.data;
}
