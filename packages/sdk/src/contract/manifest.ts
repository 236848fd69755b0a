import YAML, { isCollection, isScalar, type Document, type Tags } from 'yaml';
import * as z from '../zod.js';
import { Manifest, MAX_MANIFEST_BYTES } from './manifest-schema.js';
import { messageQuote } from './message-quote.js';
import { isKnownRuntime } from './runtimes.js';

/** Where a plugin's manifest lives, relative to its root. */
export const MANIFEST_PATH = 'plugin.yaml';

/** Deeper than any manifest needs; a guard for code that walks the parsed document. */
const MAX_DEPTH = 64;
/** Each alias expands its anchor again; a few are normal, thousands are an alias bomb. */
const MAX_ALIASES = 100;

export { Manifest, MAX_MANIFEST_BYTES };

/**
 * A `plugin.yaml` that fails the checks: the service answers it as `manifest_invalid`, the CLI's
 * `validate` prints its problems. `problems` lists each field's problem when the YAML itself was read.
 */
export class ManifestError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ManifestError';
  }
}

/** A manifest that passed, and what is worth telling its author anyway. */
export interface ManifestCheck {
  manifest: Manifest;
  warnings: string[];
}

/** Numbers stay as written (`version: 1.0` is "1.0", an all-digit sha256 keeps its zeros). */
const NUMBER_TAGS = ['tag:yaml.org,2002:int', 'tag:yaml.org,2002:float'];
const withoutNumbers = (tags: Tags): Tags => tags.filter((tag) => typeof tag === 'string' || !NUMBER_TAGS.includes(tag.tag));

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses the bytes of a `plugin.yaml`; anything wrong with it is a {@link ManifestError}. */
export function parseManifest(bytes: Uint8Array): Manifest {
  return checkManifest(bytes).manifest;
}

/**
 * Checks a `plugin.yaml` as `molecule_plugin validate` does where that protects users, and as
 * SPEC §2–3 require (lambdas/plugins/README.md lists where the two differ). Errors throw a
 * {@link ManifestError}; what the validator rejects but SPEC allows comes back as warnings.
 */
export function checkManifest(bytes: Uint8Array): ManifestCheck {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new ManifestError(`plugin.yaml is larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
  let source: string;
  try {
    source = utf8.decode(bytes);
  } catch (err) {
    throw new ManifestError('plugin.yaml is not valid YAML: it is not UTF-8 text', [], { cause: err });
  }
  const { doc, value } = parseYaml(source, 'plugin.yaml', { customTags: withoutNumbers });
  if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    throw new ManifestError('plugin.yaml must be a mapping');
  }
  const fields = (value ?? {}) as Record<string, unknown>;
  const problems = [...documentProblems(doc), ...numberProblems(doc)];
  // Not one of our fields, but the SDK reads it as a list.
  if (fields.prompt_fragments != null && !Array.isArray(fields.prompt_fragments)) problems.push('prompt_fragments: must be a list');
  const parsed = Manifest.safeParse(fields);
  if (!parsed.success) {
    problems.push(...parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  if (!parsed.success || problems.length > 0) {
    throw new ManifestError(`plugin.yaml is invalid: ${problems.slice(0, 5).join('; ')}`, problems.slice(0, 20));
  }
  const manifest = parsed.data;
  const warnings: string[] = [];
  if (!manifest.name) warnings.push('plugin.yaml has no name; the plugin takes the name of its source');
  for (const runtime of manifest.runtimes.filter((r) => !isKnownRuntime(r))) {
    warnings.push(`plugin.yaml declares runtime ${messageQuote(runtime)}, which is not a known runtime; no such workspace will list it`);
  }
  return { manifest, warnings };
}

/**
 * YAML text to a value, with every way it can fail said in the author's terms: the problem and
 * its line, never the parser's internals.
 */
function parseYaml(source: string, file: string, options: YAML.ParseOptions & YAML.SchemaOptions = {}) {
  const invalid = (reason: string, cause: unknown) => new ManifestError(`${file} is not valid YAML: ${reason}`, [], { cause });
  try {
    const doc = YAML.parseDocument(source, { ...options, logLevel: 'error', uniqueKeys: true });
    const [error] = doc.errors;
    if (error) throw invalid(yamlReason(error), error);
    return { doc, value: doc.toJS({ maxAliasCount: MAX_ALIASES }) as unknown };
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    throw invalid(yamlReason(err), err);
  }
}

/** The parser's reason in a few plain words, with the line when it knows one. */
function yamlReason(err: unknown): string {
  if (err instanceof RangeError) return 'it is nested too deeply';
  if (err instanceof YAML.YAMLError) {
    const line = err.linePos?.[0].line;
    const at = line === undefined ? '' : `, line ${line}`;
    const reason = YAML_REASONS[err.code] ?? err.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').split(';')[0];
    return `${reason}${at}`;
  }
  if (err instanceof ReferenceError) {
    if (/alias count/i.test(err.message)) return `it expands aliases (*name) more than ${MAX_ALIASES} times, as an alias bomb does`;
    if (/unresolved alias/i.test(err.message)) return 'an alias (*name) refers to an anchor (&name) that is not defined before it';
  }
  return 'it could not be read';
}

const YAML_REASONS: Partial<Record<YAML.ErrorCode, string>> = {
  RESOURCE_EXHAUSTION: 'it is nested too deeply',
  MULTIPLE_DOCS: 'it holds more than one document (a second ---)',
  DUPLICATE_KEY: 'map keys must be unique',
  TAB_AS_INDENT: 'tabs are not allowed as indentation',
};

/**
 * Patterns of credentials people paste by mistake. A plugin is shared with every workspace it
 * reaches and its manifest shows in listings, so a secret in it is a leak (the validator
 * refuses these too).
 */
const SECRET_PATTERNS: Array<[what: string, pattern: RegExp]> = [
  ['an AWS access key', /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['a GitHub token', /\b(?:gh[pousr]_[A-Za-z0-9_]{36,}|github_pat_[A-Za-z0-9_]{22,})/],
  ['an OpenAI or Anthropic API key', /\bsk-[A-Za-z0-9_-]{20,}/],
  ['a Slack token', /\bxox[abposr]-[A-Za-z0-9-]{10,}/],
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['a bearer token', /\bBearer\s+[A-Za-z0-9._~+/-]{20,}/i],
  ['a long hex secret', /\b[0-9a-fA-F]{64,}\b/],
  ['a password', /password\s*[:=]\s*['"]?[^\s'"]{8,}/i],
  ['an API key or secret', /(?:api[_-]?key|secret)\s*[:=]\s*['"]?[A-Za-z0-9_/+=.-]{16,}/i],
];

/**
 * Walks the document once (aliases are not expanded again): refuses nesting deeper than
 * {@link MAX_DEPTH} and credentials in any string value except a `sha256` (a content hash is
 * hex by design).
 */
function documentProblems(doc: Document): string[] {
  const problems: string[] = [];
  YAML.visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'sha256') return YAML.visit.SKIP;
    },
    Collection(_, _node, path) {
      if (path.filter((p) => isCollection(p)).length >= MAX_DEPTH) {
        problems.push(`(root): nested more than ${MAX_DEPTH} levels deep`);
        return YAML.visit.BREAK;
      }
    },
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string') return;
      const found = SECRET_PATTERNS.find(([, pattern]) => pattern.test(node.value as string));
      if (found) {
        problems.push(`${fieldPath([...path, node])}: looks like it holds ${found[0]}; plugins must not carry credentials (use the platform's secrets)`);
      }
    },
  });
  return problems;
}

/** `hooks.pre.0` for the last node of `path`. */
function fieldPath(path: readonly unknown[]): string {
  const parts: string[] = [];
  for (const [i, node] of path.entries()) {
    const child = path[i + 1];
    if (YAML.isPair(node) && isScalar(node.key)) parts.push(String(node.key.value));
    else if (YAML.isSeq(node) && child !== undefined) parts.push(String(node.items.indexOf(child as never)));
  }
  return parts.join('.') || '(root)';
}

/**
 * Names and runtimes are text. We keep numbers as written for `version` and friends, but a
 * bare `name: 123` is a number to every other YAML reader (the SDK's included): refuse it.
 */
function numberProblems(doc: Document): string[] {
  const problems: string[] = [];
  const written = (node: unknown, field: string) => {
    if (isScalar(node) && node.type === 'PLAIN' && typeof YAML.parse(String(node.source)) === 'number') {
      problems.push(`${field}: must be text, not the number ${node.source} (write it in quotes)`);
    }
  };
  written(doc.get('name', true), 'name');
  const runtimes = doc.get('runtimes', true);
  if (YAML.isSeq(runtimes)) {
    for (const [i, item] of runtimes.items.entries()) written(item, `runtimes.${i}`);
  }
  return problems;
}

/** How much of each SKILL.md is read to check its frontmatter: it sits at the top and is short. */
export const SKILL_HEAD_BYTES = 8 * 1024;

/** agentskills.io: lower-case words joined by single hyphens. */
const SKILL_NAME_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const required = (what: string) => ({ error: (issue: { input?: unknown }) => (issue.input == null ? 'is required' : `must be ${what}`) });
const SkillFrontmatter = z.object({
  name: z
    .string(required('text'))
    .check(
      z.minLength(1, 'is required'),
      z.maxLength(64, 'must be at most 64 characters'),
      z.regex(SKILL_NAME_RE, 'must be lower-case words joined by single hyphens'),
    ),
  description: z.string(required('text')).check(z.minLength(1, 'is required'), z.maxLength(1024, 'must be at most 1024 characters')),
  license: z.optional(z.string('must be text')),
  compatibility: z.optional(z.string('must be text').check(z.maxLength(500, 'must be at most 500 characters'))),
  metadata: z.optional(z.record(z.string(), z.unknown(), 'must be a mapping')),
  'allowed-tools': z.optional(z.string('must be a space-separated list of tools')),
});

/** A head cut at {@link SKILL_HEAD_BYTES} may end inside a character; the frontmatter comes before it. */
const lenientUtf8 = new TextDecoder('utf-8');

/**
 * Checks the frontmatter of `skills/<folder>/SKILL.md` against agentskills.io, as
 * `molecule_plugin validate` does, from the file's first bytes (`complete` when that is the
 * whole file). Returns what is wrong in one line, or nothing: the validator refuses such a
 * skill, but the runtime still gets the file, so for us it is a warning.
 */
export function checkSkillFile(folder: string, firstBytes: Uint8Array, complete: boolean): string | undefined {
  const file = `skills/${folder}/SKILL.md`;
  const text = lenientUtf8.decode(firstBytes).replace(/^\uFEFF/, '');
  if (!/^---[ \t]*\r?\n/.test(text)) return `${file} has no YAML frontmatter: it must start with a --- line, then name and description`;
  const block = /^---[ \t]*\r?\n([\s\S]*?)^---[ \t]*$/m.exec(text);
  if (!block) {
    return complete
      ? `${file}: its frontmatter has no closing --- line`
      : `${file}: its frontmatter does not end within the first ${SKILL_HEAD_BYTES / 1024} KiB`;
  }
  let value: unknown;
  try {
    // The leading newline stands for the opening ---, so line numbers are the file's.
    value = parseYaml(`\n${block[1] ?? ''}`, `${file} frontmatter`).value ?? {};
  } catch (err) {
    return err instanceof Error ? err.message : `${file} frontmatter is not valid YAML`;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return `${file}: its frontmatter must be a mapping`;
  const problems: string[] = [];
  const parsed = SkillFrontmatter.safeParse(value);
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'} ${issue.message}`));
  const { name } = value as { name?: unknown };
  if (typeof name === 'string' && name !== '' && name !== folder) problems.push(`name ${messageQuote(name)} differs from its folder ${messageQuote(folder)}`);
  return problems.length > 0 ? `${file}: ${problems.slice(0, 5).join('; ')}` : undefined;
}
