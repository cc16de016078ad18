// The one naming function: the runtime's site table and the builder read names and sympos from it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameSites, parseModule, positions, symposOf } from '../../src/naming/sites.js';
import { siteTable } from '../../src/runtime/instrument.js';

const SOURCE = `class Cart {
  total() { return items.map(function () {}) }
}
const items = [];
function f() { return () => 1 }
function f() {}
module.exports.g = async function* () {};
`;

test('the site table is the naming function: same names, kinds and positions, in the same order', () => {
  const named = nameSites(parseModule(SOURCE, 'commonjs'), SOURCE);
  const at = positions(SOURCE, named.map((s) => s.at));
  assert.deepEqual(
    siteTable(SOURCE, 'commonjs').s.map(([name, kind, line, column]) => [name, kind, line, column]),
    named.map((s, i) => [s.name, s.kind, ...at[i]]),
  );
  assert.deepEqual(
    named.map((s) => s.name),
    ['Cart.prototype.total', 'Cart.prototype.total><anonymous>', 'f', 'f><anonymous>', 'f', 'module.exports.g'],
  );
});

test('old_sympos counts equal names in source order from 1', () => {
  assert.deepEqual(symposOf(['f', 'g', 'f', 'f', 'g']), [1, 1, 2, 3, 2]);
});
