import { describe, expect, it } from 'vitest';
import { originOf, originOwnName, parseOriginPattern } from '../../../lambdas/plugins/origin.js';

describe('the origin of a source (SPEC §4)', () => {
  it.each([
    ['github://acme/lint#v1.2.0', 'github://acme/lint'],
    ['github://acme/lint#feature/x@y', 'github://acme/lint'],
    ['github://acme/lint', 'github://acme/lint'],
    ['GitHub://Acme/Lint#v1', 'github://acme/lint'],
    ['local://code-review-rules', 'local://code-review-rules'],
    ['LOCAL://code-review-rules', 'local://code-review-rules'],
    ['code-review-rules', 'local://code-review-rules'],
    ['clawhub://summarize@1.4.0', 'clawhub://summarize'],
    ['clawhub://summarize', 'clawhub://summarize'],
    ['x+y.z-1://Some/Thing#ref', 'x+y.z-1://Some/Thing'],
  ])('%s comes from %s', (source, origin) => {
    expect(originOf(source)).toBe(origin);
  });

  it('is its own origin once reduced', () => {
    for (const source of ['github://Acme/Lint#v1', 'clawhub://x@1', 'hello-skill']) {
      expect(originOf(originOf(source))).toBe(originOf(source));
    }
  });

  it.each(['', '1http://x', 'my_scheme://x'])('refuses %j as invalid_source', (source) => {
    expect(() => originOf(source)).toThrow(expect.objectContaining({ code: 'invalid_source' }));
  });
});

describe("an origin's own plugin name", () => {
  it.each([
    ['github://acme/lint', 'lint'],
    ['local://code-review-rules', 'code-review-rules'],
    ['clawhub://summarize', 'summarize'],
  ])('%s names %s', (origin, name) => {
    expect(originOwnName(origin)).toBe(name);
  });
});

describe('an allowlist pin', () => {
  it.each([
    ['github://acme/lint', 'github://acme/lint'],
    ['github://acme/lint.js', 'github://acme/lint.js'],
    ['github://a-1/b_c', 'github://a-1/b_c'],
    ['GITHUB://Acme/Lint', 'github://acme/lint'],
    ['github://acme/*', 'github://acme/*'],
    ['github://ACME/*', 'github://acme/*'],
    ['local://code-review-rules', 'local://code-review-rules'],
    ['code-review-rules', 'local://code-review-rules'],
    ['clawhub://summarize', 'clawhub://summarize'],
  ])('%s is kept as %s', (pin, normalized) => {
    expect(parseOriginPattern(pin)).toBe(normalized);
  });

  it.each([
    ['a ref', 'github://acme/lint#v1'],
    ['a version', 'clawhub://summarize@1.0.0'],
    ['a star inside', 'github://acme/li*'],
    ['a star for the owner', 'github://*/lint'],
    ['a prefix deeper than the owner', 'github://acme/lint/*'],
    ['a bare scheme prefix', 'github://*'],
    ['no plugin', 'github://acme/'],
    ['a bad scheme', 'my_scheme://x'],
    ['a scheme no source has', 'ftp://x'],
    ['an owner without a repository', 'github://acme'],
    ['an owner GitHub would refuse', 'github://-bad/x'],
    ['a repository that climbs', 'github://acme/..'],
    ['a path past the repository', 'github://acme/lint/extra'],
    ['a registry name with a slash', 'local://x/y'],
    ['a bare name that is no plugin name', 'Bad Name'],
    ['a clawhub name that is no plugin name', 'clawhub://a/b'],
    ['an owner prefix outside GitHub', 'local://acme/*'],
  ])('with %s is refused as invalid_source', (_, pin) => {
    expect(() => parseOriginPattern(pin)).toThrow(expect.objectContaining({ code: 'invalid_source' }));
  });
});
