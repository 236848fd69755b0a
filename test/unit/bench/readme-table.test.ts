import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BEGIN, END, renderTable, replaceTable, updateReadme } from '../../../bench/lib/readme-table.js';
import { type Report, row } from '../../../bench/lib/report.js';

const report: Report = {
  startedAt: '2026-12-01T23:00:00.000Z',
  totalMs: 240_000,
  machine: { nproc: 2, cpuModel: 'AMD EPYC', memoryGiB: 23.5, node: 'v20.20.2', os: 'Linux', loadAverageAtStart: 0.5 },
  database: 'embedded PostgreSQL (PGlite)',
  command: 'npm run bench',
  sections: [
    {
      name: 'Staging',
      rows: [
        row({
          metric: 'Staging 100 MiB: warm throughput vs baseline',
          value: 84.2,
          unit: '%',
          target: { op: '>=', value: 80, unit: '%' },
          baseline: { what: 'gunzip | gzip -1', value: 60, unit: 'MB/s' },
          measured: '50.5 MB/s warm vs 60 MB/s = 84 %',
          notes: 'not in the README',
        }),
        row({
          metric: 'Staging 1 MiB: our Stage vs node-tar (warm)',
          value: 0.9,
          unit: '×',
          target: { op: '>', value: 1, unit: '×' },
          measured: '0.9× (a | b)',
          notes: '',
        }),
      ],
      findings: ['not in the README either'],
      data: {},
    },
    { name: 'Cold start and size', rows: [], findings: [], data: {}, error: 'cdk synth failed' },
    { name: 'Benchmark run', rows: [row({ metric: 'Whole `npm run bench`', value: 240, unit: 's', measured: '240 s', notes: '' })], findings: [], data: {} },
  ],
};

const README = `# Title\n\nIntro | with a pipe.\n\n## Benchmarks\n\nSome prose.\n\n${BEGIN}\n\n| old | table |\n| --- | --- |\n| typed | by hand |\n\n${END}\n\nAfter the table.\n`;

describe('the README benchmark table', () => {
  it('renders one line per row with measured, target and met, a failed section as a miss', () => {
    const lines = renderTable(report).split('\n');
    expect(lines).toContain('| Staging | Staging 100 MiB: warm throughput vs baseline | 50.5 MB/s warm vs 60 MB/s = 84 % | ≥ 80 % | yes |');
    expect(lines).toContain('| Staging | Staging 1 MiB: our Stage vs node-tar (warm) | 0.9× (a \\| b) | > 1 × | **no** |');
    expect(lines).toContain('| Cold start and size | (the whole section) | **failed to run**: cdk synth failed | | **no** |');
    expect(lines).toContain('| Benchmark run | Whole `npm run bench` | 240 s | — | – |');
    expect(lines[0]).toContain('2026-12-01T23:00:00.000Z');
    expect(lines[0]).toContain('2 targets missed');
    expect(renderTable(report)).not.toContain('not in the README');
  });

  it('replaces only what is between the markers, and again gives the same file', () => {
    const table = renderTable(report);
    const once = replaceTable(README, table);
    const [before, rest] = once.split(BEGIN);
    const [inside, after] = rest!.split(END);
    expect(before).toBe(README.split(BEGIN)[0]);
    expect(after).toBe(README.split(END)[1]);
    expect(inside).toBe(`\n\n${table}\n\n`);
    expect(once).not.toContain('typed | by hand');
    expect(replaceTable(once, table)).toBe(once);
  });

  it('refuses a README without the markers instead of appending a table somewhere', () => {
    expect(() => replaceTable('# no markers\n', 'x')).toThrow(/bench:begin/);
    expect(() => replaceTable(`${END}\n${BEGIN}\n`, 'x')).toThrow(/bench:begin/);
  });

  describe('updateReadme, on files', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'readme-table-'));
    });
    afterEach(async () => rm(dir, { recursive: true, force: true }));

    it('rewrites the README from the report JSON', async () => {
      await writeFile(join(dir, 'latest.json'), JSON.stringify(report));
      await writeFile(join(dir, 'README.md'), README);
      await updateReadme({ reportPath: join(dir, 'latest.json'), readmePath: join(dir, 'README.md') });
      const written = await readFile(join(dir, 'README.md'), 'utf8');
      expect(written).toBe(replaceTable(README, renderTable(report)));
      expect(written.startsWith('# Title\n\nIntro | with a pipe.')).toBe(true);
      expect(written.endsWith(`${END}\n\nAfter the table.\n`)).toBe(true);
    });
  });
});
