import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FOLDER = join(import.meta.dirname, '../../../../packages/sdk/src/signing');

describe('@molecule/plugins-sdk/signing', () => {
  it('imports nothing but node:crypto, node:buffer and its own files: pure, and light in the Stage bundle and the SDK alike', () => {
    const imports = readdirSync(FOLDER)
      .filter((name) => name.endsWith('.ts'))
      .flatMap((name) => [...readFileSync(join(FOLDER, name), 'utf8').matchAll(/\bfrom '([^']+)'/g)].map((match) => match[1]));
    expect(imports.filter((specifier) => !/^(node:crypto|node:buffer|\.\/[a-z-]+\.js)$/.test(specifier ?? ''))).toEqual([]);
  });
});
