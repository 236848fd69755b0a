import { describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';

/** MOLECULE_LOCAL_FAULTS reaches the emulators of `npm start`'s process, armed once the stack is up. */
const stack = useLocalStack({ MOLECULE_LOCAL_FAULTS: 's3.error=1' });

describe('npm start with MOLECULE_LOCAL_FAULTS', () => {
  it('still starts (seeding is not faulted), says which faults are on, and the registry listing, read from S3, fails as 503 platform_unavailable', async () => {
    expect(stack.output()).toContain('local emulators inject faults');
    expect(stack.output()).toContain('"s3.error":1');

    const listed = await stack.call('GET', '/plugins', { token: stack.adminToken });
    // S3 failing is the platform's trouble, said in our words: never a 500, nor S3's own text.
    expect(listed.status).toBe(503);
    expect(listed.body).toMatchObject({ code: 'platform_unavailable', error: expect.any(String) });
    expect(JSON.stringify(listed.body)).not.toContain('We encountered an internal error');
  });
});
