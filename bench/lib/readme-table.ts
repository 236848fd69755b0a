/**
 * Rewrites the benchmark table in bench/README.md (between `<!-- bench:begin -->` and
 * `<!-- bench:end -->`) from a report JSON, so the table is never typed by hand:
 *   npx tsx bench/lib/readme-table.ts [report.json] [README.md]   # defaults: bench/reports/latest.json, bench/README.md
 * `npm run bench` runs it at the end of a full run. Everything outside the markers stays as it is;
 * `npm run format` then pads the table's columns as `biome check` wants them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './proc.js';
import { type Report, type Row, targetText } from './report.js';

export const BEGIN = '<!-- bench:begin -->';
export const END = '<!-- bench:end -->';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const metText = (met: Row['met']) => (met === null || met === undefined ? '–' : met ? 'yes' : '**no**');
/** Reports written before rows carried a structured target had it as text already. */
const target = (row: Row) => (typeof row.target === 'string' ? row.target : targetText(row.target));

/** The table for one report: one line per row of every section, a failed section as one line. */
export function renderTable(report: Report): string {
  const m = report.machine;
  const missed = report.sections.reduce((n, s) => n + s.rows.filter((r) => r.met === false).length + (s.error ? 1 : 0), 0);
  const lines = [
    `Generated from \`bench/reports/latest.json\` by \`bench/lib/readme-table.ts\` (do not edit by hand): \`${report.command}\` on ${report.startedAt}, ${m.nproc} cores ${m.cpuModel}, Node ${m.node}, ${report.database}; ${missed === 0 ? 'every target met' : `${missed} target${missed === 1 ? '' : 's'} missed`}.`,
    '',
    '| section | metric | measured | target | met? |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const section of report.sections) {
    if (section.error) lines.push(`| ${cell(section.name)} | (the whole section) | **failed to run**: ${cell(section.error)} | | **no** |`);
    for (const row of section.rows) {
      lines.push(`| ${cell(section.name)} | ${cell(row.metric)} | ${cell(row.measured)} | ${cell(target(row))} | ${metText(row.met)} |`);
    }
  }
  return lines.join('\n');
}

/** `readme` with the text between the markers replaced by `table`; throws when the markers are missing or out of order. */
export function replaceTable(readme: string, table: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin === -1 || end === -1 || end < begin || readme.indexOf(BEGIN, begin + 1) !== -1 || readme.indexOf(END, end + 1) !== -1) {
    throw new Error(`README needs exactly one ${BEGIN} followed by one ${END} around the benchmark table`);
  }
  return `${readme.slice(0, begin + BEGIN.length)}\n\n${table}\n\n${readme.slice(end)}`;
}

export async function updateReadme(opts: { reportPath?: string; readmePath?: string } = {}): Promise<string> {
  const reportPath = opts.reportPath ?? join(REPO_ROOT, 'bench', 'reports', 'latest.json');
  const readmePath = opts.readmePath ?? join(REPO_ROOT, 'bench', 'README.md');
  const report = JSON.parse(await readFile(reportPath, 'utf8')) as Report;
  const readme = await readFile(readmePath, 'utf8');
  const updated = replaceTable(readme, renderTable(report));
  if (updated !== readme) await writeFile(readmePath, updated);
  return readmePath;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [reportPath, readmePath] = process.argv.slice(2);
  const written = await updateReadme({ reportPath, readmePath });
  process.stderr.write(`benchmark table in ${written} rewritten from ${reportPath ?? 'bench/reports/latest.json'}\n`);
}
