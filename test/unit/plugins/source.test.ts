import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createResolvers, parseSource, validateSource, type ResolverConfig } from '../../../lambdas/plugins/source.js';
import { AppError } from '../../../lambdas/shared/errors.js';

const baseConfig: ResolverConfig = {
  registryBucket: 'registry',
  registryPrefix: 'registry/',
  githubCodeloadUrl: 'https://codeload.github.com',
  githubToken: undefined,
  clawhubBaseUrl: undefined,
  allowUnpinned: false,
  limits: { fetchTimeoutMs: 1_000 },
};

const resolvers = (config: Partial<ResolverConfig> = {}) => createResolvers({ s3: new S3Client({}), config: { ...baseConfig, ...config } });

function rejection(run: () => unknown): AppError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('it was accepted');
}

describe('parsing a source (SPEC §2)', () => {
  it('splits <scheme>://<spec> and keeps the raw string', () => {
    expect(parseSource('github://acme/tools#v1.2.0')).toEqual({ scheme: 'github', spec: 'acme/tools#v1.2.0', raw: 'github://acme/tools#v1.2.0' });
    expect(parseSource('x+y.z-1://anything')).toMatchObject({ scheme: 'x+y.z-1', spec: 'anything' });
  });

  it('reads a bare name as local://<name>', () => {
    expect(parseSource('acc-good')).toEqual({ scheme: 'local', spec: 'acc-good', raw: 'acc-good' });
  });

  it('treats schemes case-insensitively', () => {
    expect(parseSource('GitHub://acme/tools#v1').scheme).toBe('github');
  });

  it.each([
    ['an empty source', ''],
    ['a scheme that does not start with a letter', '1http://x'],
    ['a scheme with an underscore', 'my_scheme://x'],
    ['an overlong source', `local://${'a'.repeat(2000)}`],
  ])('rejects %s as invalid_source (400)', (_, raw) => {
    expect(rejection(() => parseSource(raw))).toMatchObject({ code: 'invalid_source', status: 400 });
  });
});

describe('the resolver registry', () => {
  it('lists its schemes sorted, with clawhub only when CLAWHUB_BASE_URL is set', () => {
    expect(resolvers().schemes()).toEqual(['github', 'local']);
    expect(resolvers({ clawhubBaseUrl: 'https://clawhub.example' }).schemes()).toEqual(['clawhub', 'github', 'local']);
  });

  it('rejects an unknown scheme with the available schemes', () => {
    const error = rejection(() => validateSource(resolvers(), 'ftp://example.com/plugin.tgz'));
    expect(error).toMatchObject({ code: 'invalid_source', status: 400, details: { available_schemes: ['github', 'local'] } });
  });

  it('rejects clawhub when it is not configured', () => {
    expect(rejection(() => validateSource(resolvers(), 'clawhub://x@1.0.0')).details).toEqual({ available_schemes: ['github', 'local'] });
  });
});

describe('validating a local source', () => {
  it('expects the plugin to carry the registry name', () => {
    expect(validateSource(resolvers(), 'acc-good')).toMatchObject({ expectedName: 'acc-good' });
    expect(validateSource(resolvers(), 'local://acc-good').expectedName).toBe('acc-good');
  });

  it.each(['../etc', 'Acc', 'a b', 'a/b', ''])('rejects the name %j as invalid_plugin_name', (name) => {
    expect(rejection(() => validateSource(resolvers(), `local://${name}`))).toMatchObject({ code: 'invalid_plugin_name', status: 400 });
  });
});

describe('validating a github source', () => {
  it.each(['acme/tools#v1.2.0', 'acme/tools#0123456789abcdef0123456789abcdef01234567', 'a-b/c.d_e#feature/x', 'acme/tools#refs/tags/v1'])(
    'accepts %s',
    (spec) => {
      expect(validateSource(resolvers(), `github://${spec}`)).toMatchObject({ source: { scheme: 'github', spec } });
    },
  );

  it('rejects an unpinned source with 422 unpinned_source', () => {
    const error = rejection(() => validateSource(resolvers(), 'github://acme/tools'));
    expect(error).toMatchObject({ code: 'unpinned_source', status: 422 });
    expect(error.message).toMatch(/github:\/\/acme\/tools#<tag or commit>/);
  });

  it('accepts an unpinned source when PLUGIN_ALLOW_UNPINNED=true', () => {
    expect(() => validateSource(resolvers({ allowUnpinned: true }), 'github://acme/tools')).not.toThrow();
  });

  it('rejects a ref that starts with "-"', () => {
    const error = rejection(() => validateSource(resolvers({ allowUnpinned: true }), 'github://acme/tools#--upload-pack=touch /tmp/x'));
    expect(error).toMatchObject({ code: 'invalid_source' });
    expect(error.message).toMatch(/must not start with "-"/);
  });

  it.each([
    ['no repository', 'acme'],
    ['an extra path segment', 'acme/tools/sub#v1'],
    ['an empty ref', 'acme/tools#'],
    ['a ref with ..', 'acme/tools#v1/../../x'],
    ['a ref with spaces', 'acme/tools#v1 ; rm -rf /'],
    ['a ref with a query', 'acme/tools#v1?x=1'],
    ['a ref ending in /', 'acme/tools#v1/'],
    ['an owner with a dot', 'ac.me/tools#v1'],
    ['an owner starting with -', '-acme/tools#v1'],
    ['the repository ..', 'acme/..#v1'],
    ['a repository with a space', 'acme/my tools#v1'],
    ['percent-encoding', 'acme/too%2fls#v1'],
  ])('rejects %s as invalid_source', (_, spec) => {
    expect(rejection(() => validateSource(resolvers(), `github://${spec}`))).toMatchObject({ code: 'invalid_source', status: 400 });
  });
});

describe('validating a clawhub source', () => {
  const withClawhub = () => resolvers({ clawhubBaseUrl: 'https://clawhub.example' });

  it('accepts name@version', () => {
    expect(() => validateSource(withClawhub(), 'clawhub://acc-good@1.2.3-beta.1')).not.toThrow();
  });

  it('rejects a source without a version as unpinned', () => {
    expect(rejection(() => validateSource(withClawhub(), 'clawhub://acc-good'))).toMatchObject({ code: 'unpinned_source', status: 422 });
  });

  it.each([
    ['an invalid name', 'Acc@1.0.0', 'invalid_plugin_name'],
    ['an empty version', 'acc@', 'invalid_source'],
    ['a version with a slash', 'acc@1.0/../../x', 'invalid_source'],
    ['garbage', '../../x', 'invalid_source'],
  ])('rejects %s', (_, spec, code) => {
    expect(rejection(() => validateSource(withClawhub(), `clawhub://${spec}`)).code).toBe(code);
  });
});
