import { describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.js';

/** MOLECULE_LOCAL_FAULTS reaches the emulators of `npm start`'s process, armed once the stack is up. */
const stack = useLocalStack({ MOLECULE_LOCAL_FAULTS: 's3.error=1' });

describe('npm start with MOLECULE_LOCAL_FAULTS', () => {
  it('still starts (seeding is not faulted), says which faults are on, and the registry listing, read from S3, fails with an error body', async () => {
    expect(stack.output()).toContain('local emulators inject faults');
    expect(stack.output()).toContain('"s3.error":1');

    const listed = await stack.call('GET', '/plugins', { token: stack.adminToken });
    expect(listed.status).not.toBe(200);
    expect(listed.body).toMatchObject({ code: expect.any(String), error: expect.any(String) });
  });
});
