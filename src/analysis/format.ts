/** Formatting of metric values and verdicts, shared by the HTML and Markdown reports. */
import type { MetricRow } from './metric-rows';

/** The row's value with its unit, rounded for people. */
export function formatValue(row: MetricRow): string {
  return withUnit(row.value, row.unit);
}

/** The ideal and the acceptance interval in words, e.g. `99.6094 % (>= 99.5893)`. */
export function formatIdeal(row: MetricRow): string {
  const ideal = row.ideal === '' ? '' : withUnit(row.ideal, row.unit);
  const hasLow = row.low !== undefined && Number.isFinite(row.low);
  const hasHigh = row.high !== undefined && Number.isFinite(row.high);
  let range = '';
  if (hasLow && hasHigh && !(row.unit === '%' && row.high === 100)) {
    range = `[${number(row.low!)}, ${number(row.high!)}]`;
  } else if (hasLow && typeof row.ideal === 'number') range = `>= ${number(row.low!)}`;
  else if (hasHigh && typeof row.ideal === 'number') range = `<= ${number(row.high!)}`;
  else if (hasLow && row.unit === '%') range = `>= ${number(row.low!)}`;
  return range ? `${ideal} (${range})` : ideal;
}

/** PASS, FAIL, or a dash for informational rows. */
export function formatVerdict(row: MetricRow): string {
  return row.pass === null ? '-' : row.pass ? 'PASS' : 'FAIL';
}

/** Frame number, or `all` for the instance as a whole. */
export function formatFrame(row: MetricRow): string {
  return row.frame === null ? 'all' : String(row.frame);
}

/** Who the row is about, in words. */
export const SUBJECT_NAMES: Record<MetricRow['cipher'], string> = {
  plain: 'original',
  stego: 'stego',
  veil: 'Veil (AES-256-GCM)',
  textbook: 'paper (textbook RSA)',
};

function withUnit(value: MetricRow['value'], unit: MetricRow['unit']): string {
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') return value;
  const text = unit === 'bytes' ? String(Math.round(value)) : number(value);
  return unit === '' ? text : `${text} ${unit}`;
}

/** Four decimals for small numbers, fewer for large ones, no exponent. */
export function number(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(2);
  return value.toFixed(4);
}
