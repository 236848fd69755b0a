import { describe, expect, it } from 'vitest';
import { isPluginName, parsePluginName } from '../../../lambdas/plugins/names.js';
import { InvalidPluginName } from '../../../lambdas/shared/errors.js';

describe('plugin names (SPEC §2)', () => {
  it.each(['a', '0', 'acc-good', 'my_plugin.v2', 'x'.repeat(128)])('accepts %j', (name) => {
    expect(isPluginName(name)).toBe(true);
    expect(parsePluginName(name)).toBe(name);
  });

  it.each(['', 'Upper', '-leading', '.hidden', '_x', 'a b', 'a/b', '../x', 'x'.repeat(129), 'naïve', 'a\n'])(
    'rejects %j as invalid_plugin_name (400)',
    (name) => {
      expect(isPluginName(name)).toBe(false);
      const error = (() => {
        try {
          parsePluginName(name, 'skill name');
        } catch (err) {
          return err;
        }
      })();
      expect(error).toBeInstanceOf(InvalidPluginName);
      expect(error).toMatchObject({ code: 'invalid_plugin_name', status: 400 });
      expect((error as Error).message).toMatch(/^invalid skill name /);
    },
  );

  it('cuts a huge name short in the message', () => {
    expect(() => parsePluginName('X'.repeat(10_000))).toThrow(/^invalid plugin name "X{200}…"/);
  });
});
