import { describe, expect, it } from 'vitest';
import { parseHostResult, sanitizedTail } from '../../../lambdas/delivery/host-command.js';

describe('parseHostResult', () => {
  it('reads the last result line', () => {
    const stdout = 'MOLECULE_RESULT {"ok":false,"step":"download"}\nMOLECULE_RESULT {"ok":true,"action":"installed"}\n';

    expect(parseHostResult(stdout)).toEqual({ ok: true, action: 'installed' });
  });

  it('skips a malformed or truncated line', () => {
    expect(parseHostResult('MOLECULE_RESULT {"ok":true}\nMOLECULE_RESULT {"ok":tr')).toEqual({ ok: true });
  });

  it('is null when the script never reported', () => {
    expect(parseHostResult('some noise\n')).toBeNull();
    expect(parseHostResult('MOLECULE_RESULT {"nothing":"useful"}')).toBeNull();
  });
});

describe('sanitizedTail', () => {
  it('keeps a short tail without control characters or query strings', () => {
    const text = `${'x'.repeat(5000)}\u001b[31mfailed https://b.s3.amazonaws.com/k?X-Amz-Signature=SECRET\u0000 done`;

    const tail = sanitizedTail(text);

    expect(tail.length).toBeLessThanOrEqual(4001);
    expect(tail).toContain('https://b.s3.amazonaws.com/k?<redacted>');
    expect(tail).not.toMatch(/SECRET|\u001b|\u0000/);
  });
});
