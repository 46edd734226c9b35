import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CODES, type ErrorCode } from '../src/errors';

interface DocRow {
  http: number;
  dimse: number;
  meaning: string;
}

/** Rows of the docs/errors.md table: `| VEIL_E_... | http | dimse hex | meaning | [what to do] |`. */
function documentedCodes(): Map<string, DocRow> {
  const text = fs.readFileSync(path.resolve(__dirname, '..', 'docs', 'errors.md'), 'utf8');
  const rows = new Map<string, DocRow>();
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const code = /^`?(VEIL_E_[A-Z0-9_]+)`?$/.exec(cells[1] ?? '')?.[1];
    if (!code) continue;
    assert.ok(!rows.has(code), `${code} is documented twice`);
    rows.set(code, {
      http: Number(cells[2]),
      dimse: parseInt((cells[3] ?? '').replace(/^0x/i, ''), 16),
      meaning: cells[4] ?? '',
    });
  }
  return rows;
}

describe('errors', () => {
  const rows = documentedCodes();
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];

  it('documents exactly the codes of ERROR_CODES', () => {
    assert.deepEqual([...rows.keys()].sort(), [...codes].sort());
  });

  it('documents the same HTTP and DIMSE status as ERROR_CODES', () => {
    for (const code of codes) {
      const row = rows.get(code);
      assert.ok(row, `docs/errors.md has no row for ${code}`);
      assert.equal(row.http, ERROR_CODES[code].http, `HTTP status of ${code}`);
      assert.equal(row.dimse, ERROR_CODES[code].dimse, `DIMSE status of ${code}`);
      assert.ok(row.meaning.length > 0, `${code} has a meaning`);
    }
  });

  it('keeps every code in the VEIL_E_<AREA>_<WHAT> shape with plausible statuses', () => {
    for (const code of codes) {
      assert.match(code, /^VEIL_E_[A-Z0-9]+(_[A-Z0-9]+)*$/);
      const { http, dimse } = ERROR_CODES[code];
      assert.ok(http >= 400 && http <= 599, `${code} HTTP status is an error status`);
      // PS3.7 C.1: failures are 0xA7xx, 0xA9xx or 0xCxxx (refused, mismatch, cannot understand),
      // and PS3.4 C.4.2.1.5 adds 0xA801 (C-MOVE: move destination unknown)
      assert.ok(
        (dimse & 0xff00) === 0xa700 ||
          dimse === 0xa801 ||
          (dimse & 0xff00) === 0xa900 ||
          (dimse & 0xf000) === 0xc000,
        `${code} DIMSE status is a failure status`,
      );
    }
  });
});
