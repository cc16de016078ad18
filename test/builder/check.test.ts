// "Did you mean": the names a patch could not match, against what the process has.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { didYouMean } from '../../src/builder/check.js';
import { simpleName } from '../../src/builder/compare.js';

test('object names: the missing ./ prefix, a near miss, nothing for an unrelated name', () => {
  const loaded = ['./lib/pricing.js', './lib/cart.js', './server.js', 'express/lib/router/index.js'];
  assert.deepEqual(didYouMean('lib/pricing.js', loaded), ['./lib/pricing.js']);
  assert.deepEqual(didYouMean('./lib/pricng.js', loaded), ['./lib/pricing.js']);
  assert.deepEqual(didYouMean('router/index.js', loaded), ['express/lib/router/index.js']);
  assert.deepEqual(didYouMean('./db/pool.js', loaded), []);
});

test('function names: the member a caller sees (res.send → send), the qualified class name', () => {
  const names = ['send', 'json', 'Cart.prototype.total', 'outer>inner', 'Cart.constructor'];
  assert.deepEqual(didYouMean('res.send', names, simpleName), ['send']);
  assert.deepEqual(didYouMean('Cart.total', names, simpleName)[0], 'Cart.prototype.total');
  assert.deepEqual(didYouMean('inner', names, simpleName), ['outer>inner']);
  assert.equal(simpleName('Cart.prototype.x:get'), 'x');
});
