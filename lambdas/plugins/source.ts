import type { S3Client } from '@aws-sdk/client-s3';
import { InvalidSource } from '../shared/errors.js';
import type { Config } from '../shared/config.js';
import type { PluginName } from '../shared/types.js';
import { messageQuote } from '@molecule/plugins-sdk/contract/message-quote';
import { clawhubResolver } from './resolvers/clawhub.js';
import { githubResolver } from './resolvers/github.js';
import { localResolver } from './resolvers/local.js';
import type { Resolver } from './resolvers/resolver.js';

export type { FetchedArchive, Resolver } from './resolvers/resolver.js';

/** A parsed `source` (SPEC §2). `raw` is the string as the client sent it. */
export interface Source {
  scheme: string;
  spec: string;
  raw: string;
}

const SCHEME_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;
const MAX_SOURCE_LENGTH = 1024;

/** `<scheme>://<spec>`, or a bare name meaning `local://<name>`. Schemes are case-insensitive. */
export function parseSource(raw: string): Source {
  if (raw.length === 0) throw new InvalidSource('source is empty');
  if (raw.length > MAX_SOURCE_LENGTH) throw new InvalidSource(`source is longer than ${MAX_SOURCE_LENGTH} characters`);
  const match = SCHEME_RE.exec(raw);
  if (match) return { scheme: match[1]!.toLowerCase(), spec: raw.slice(match[0].length), raw };
  if (raw.includes('://')) throw new InvalidSource(`invalid source ${messageQuote(raw)}: expected <scheme>://<spec> or a plugin name`);
  return { scheme: 'local', spec: raw, raw };
}

export type ResolverConfig = Pick<Config, 'registryBucket' | 'registryPrefix' | 'githubCodeloadUrl' | 'githubToken' | 'clawhubBaseUrl' | 'allowUnpinned'> & {
  limits: Pick<Config['limits'], 'fetchTimeoutMs'>;
};

export interface ResolverDeps {
  s3: S3Client;
  config: ResolverConfig;
}

export interface Resolvers {
  readonly byScheme: ReadonlyMap<string, Resolver>;
  /** the registered schemes, sorted (`GET /plugins/sources`) */
  schemes(): string[];
  /** The source's resolver; an unknown scheme is `invalid_source` with `available_schemes`. */
  resolverFor(source: Source): Resolver;
}

export function createResolvers({ s3, config }: ResolverDeps): Resolvers {
  const fetchTimeoutMs = config.limits.fetchTimeoutMs;
  const byScheme = new Map<string, Resolver>([
    ['local', localResolver({ s3, bucket: config.registryBucket, prefix: config.registryPrefix, fetchTimeoutMs })],
    [
      'github',
      githubResolver({
        codeloadUrl: config.githubCodeloadUrl,
        token: config.githubToken,
        allowUnpinned: config.allowUnpinned,
        fetchTimeoutMs,
      }),
    ],
  ]);
  if (config.clawhubBaseUrl) byScheme.set('clawhub', clawhubResolver({ baseUrl: config.clawhubBaseUrl, fetchTimeoutMs }));

  const schemes = () => [...byScheme.keys()].sort();
  return {
    byScheme,
    schemes,
    resolverFor(source) {
      const resolver = byScheme.get(source.scheme);
      if (!resolver) {
        throw new InvalidSource(`unknown source scheme ${messageQuote(source.scheme)}`, { available_schemes: schemes() });
      }
      return resolver;
    },
  };
}

/** Parses and checks a source the way the API does before starting a workflow. */
export function validateSource(resolvers: Resolvers, raw: string): { source: Source; expectedName?: PluginName } {
  const source = parseSource(raw);
  return { source, ...resolvers.resolverFor(source).validate(source.spec) };
}
