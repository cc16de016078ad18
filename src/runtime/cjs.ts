// The async path's CJS half (Node 20, and the 22 / 24 releases hookPathFor keeps off the sync path).
// Every CommonJS module, whether required or imported, ends in `Module.prototype._compile`; so does
// require(esm) (with format 'module'), which the ESM hooks of `module.register` never see.

import Module from 'node:module';
import type { Loader } from './loader.js';

type Compile = (this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown;

export function patchCompile(loader: Loader): void {
  const proto = Module.prototype as unknown as { _compile: Compile };
  const original = proto._compile;
  proto._compile = function (content, filename, ...rest) {
    let code = content;
    try {
      const format = rest[0];
      code = loader.transform(content, filename, format === 'module' || format === 'commonjs' ? format : null);
    } catch {
      // loading goes on with the original source
    }
    return original.call(this, code, filename, ...rest);
  };
}
