import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REQUIRED_MIGRATIONS } from '../../../lambdas/store/schema-version.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../lambdas/store/migrations/', import.meta.url));

describe('the migrations the code needs', () => {
  it('lists every migration file in lambdas/store/migrations, in order (add a new one to REQUIRED_MIGRATIONS)', () => {
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => /\.[cm]?[jt]s$/.test(f))
      .map((f) => f.replace(/\.[cm]?[jt]s$/, ''))
      .sort();
    expect(files.length).toBeGreaterThan(0);
    expect([...REQUIRED_MIGRATIONS]).toEqual(files);
  });
});
